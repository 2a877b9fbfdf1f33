"""`fedctl dns` commands against a real server process, a real store and the example manifest."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from federation.cli import main
from federation.config import load_settings
from federation.dns.publisher import AppIdentity
from federation.dns.runtime import start_dns
from federation.dns.steering import RegionEndpoint
from federation.store import migrate
from federation.store.db import Database
from tests.dns.conftest import spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "examples" / "federatedapp-web.yaml"
# Real networks of the shipped table: CERNET (edu) and Google (os_namerica_us).
EDU_IP, US_IP = "202.112.0.36", "8.8.8.8"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`fedctl dns serve` in its own process, on an ephemeral port."""
    records = {
        "zone": "example.com",
        "records": [
            {"name": "www.example.com", "type": "A", "line": "default", "value": "10.0.0.1"},
            {"name": "www.example.com", "type": "A", "line": "edu", "value": "10.0.0.2"},
            {"name": "www.example.com", "type": "A", "line": "os_namerica", "value": "10.0.0.3"},
        ],
    }
    (tmp_path / "records.yaml").write_text(yaml.safe_dump(records))
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "federation.cli",
            "dns",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--records",
            str(tmp_path / "records.yaml"),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "FEDCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    try:
        deadline = time.monotonic() + 20
        while not (ready.exists() and ready.read_text().strip()):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "dns serve did not start"
            time.sleep(0.05)
        yield ready.read_text().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def test_query_sends_the_client_subnet_and_prints_the_lines_answer(served: str) -> None:
    runner = CliRunner()
    edu = runner.invoke(main, ["dns", "query", "www.example.com", "--client-ip", EDU_IP, "--server", served])
    assert edu.exit_code == 0, edu.output
    assert "10.0.0.2" in edu.output
    assert "scope /" in edu.output
    us = runner.invoke(
        main, ["dns", "query", "www.example.com", "--client-ip", US_IP, "--server", served, "--tcp"]
    )
    assert "10.0.0.3" in us.output
    bad = runner.invoke(main, ["dns", "query", "www.example.com", "--client-ip", "nope", "--server", served])
    assert bad.exit_code != 0
    assert "--client-ip" in bad.output


def test_show_and_plan_read_what_the_controller_published(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    settings = load_settings(database_url=url, dns_listen="127.0.0.1:0")
    db = Database(url)

    async def publish() -> None:
        runtime = await start_dns(settings, db, zones=("example.com",))
        try:
            result = await runtime.publisher.publish(
                AppIdentity("default", "web"),
                spec("Latency"),
                [
                    RegionEndpoint("cn-beijing", "10.0.0.1", True),
                    RegionEndpoint("us-west-1", "10.0.0.2", True),
                ],
            )
            assert result.ok
        finally:
            await runtime.close()

    asyncio.run(publish())
    db.dispose()
    runner = CliRunner()
    shown = runner.invoke(
        main, ["--database-url", url, "dns", "show", "www.example.com", "--client-ip", US_IP]
    )
    assert shown.exit_code == 0, shown.output
    assert "default" in shown.output
    assert "www.example.com -> 10.0.0.2" in shown.output  # the US client gets the US region
    planned = runner.invoke(
        main,
        [
            "--database-url",
            url,
            "dns",
            "plan",
            "-f",
            str(EXAMPLE),
            "--region",
            "cn-hangzhou=10.0.0.9",
            "--region",
            "cn-beijing=10.0.0.1",
            "--region",
            "eu-central-1=10.0.0.3,unhealthy",
        ],
    )
    assert planned.exit_code == 0, planned.output
    assert "region eu-central-1: unhealthy" in planned.output
    # cn-hangzhou joins (its address appears), us-west-1 is no longer in the app: its records go
    assert "10.0.0.9" in planned.output
    assert (
        "delete www.example.com A [default] 10.0.0.2" in planned.output
        or "[default] 10.0.0.2 ttl=60 -> " in planned.output
    )


def test_lines_check_compares_the_catalogue_with_describe_support_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from federation.sandbox.aliyun import AliyunEmulator

    async def with_emulator() -> tuple[AliyunEmulator, str]:
        emu = AliyunEmulator(domains=["example.com"])
        await emu.start("127.0.0.1", 0, dns_port=None)
        return emu, emu.endpoint

    loop = asyncio.new_event_loop()
    emu, endpoint = loop.run_until_complete(with_emulator())
    # The emulator serves from its own loop in a thread while the CLI runs its own asyncio.run.
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("FEDCTL_DNS_PROVIDER", "alidns")
        monkeypatch.setenv("FEDCTL_ALIBABA_ACCESS_KEY_ID", emu.access_key_id)
        monkeypatch.setenv("FEDCTL_ALIBABA_ACCESS_KEY_SECRET", emu.access_key_secret)
        monkeypatch.setenv("FEDCTL_ALIBABA_ENDPOINT", endpoint)
        result = CliRunner().invoke(main, ["dns", "lines", "--check", "example.com"])
        assert result.exit_code == 0, result.output
        assert "in sync with alidns" in result.output
    finally:
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_latency_shows_each_regions_rtt_and_which_layer_it_came_from(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime

    from federation.store.latency import LatencySampleData, record_latency_samples

    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as session:  # two probes from Zhejiang telecom clients to Beijing: 30 and 34 ms
        record_latency_samples(
            session,
            [
                LatencySampleData("cn_telecom_zhejiang", "cn-beijing", ms, datetime.now(UTC))
                for ms in (30, 34)
            ],
        )
    db.dispose()
    (tmp_path / "latency.yaml").write_text("regions: {cn-hangzhou: {eu-central-1: 150}}\n")
    runner = CliRunner()
    got = runner.invoke(
        main,
        ["--database-url", url, "dns", "latency", "--client-ip", "36.21.0.1", "--json"],
        env={"FEDCTL_DNS_LATENCY": str(tmp_path / "latency.yaml")},
    )
    assert got.exit_code == 0, got.output
    doc = json.loads(got.output)
    assert (doc["line"], doc["vantage"]) == ("cn_telecom_zhejiang", "cn-hangzhou")
    rows = {r["region"]: (r["rtt_ms"], r["source"]) for r in doc["regions"]}
    assert rows["cn-beijing"] == (32.0, "sample")  # the median of the live samples wins
    assert rows["eu-central-1"] == (150.0, "config")  # then the operator's table
    assert rows["cn-hangzhou"][1] == "model"  # then the shipped table: mainland pairs are modelled
    assert [r["rtt_ms"] for r in doc["regions"]] == sorted(r["rtt_ms"] for r in doc["regions"])
    # A pair the shipped table has from a published measurement (Frankfurt-London, for German clients).
    de = runner.invoke(
        main,
        [
            "--database-url",
            url,
            "dns",
            "latency",
            "--line",
            "os_euro_de",
            "--region",
            "eu-west-1",
            "--no-samples",
        ],
    )
    assert de.exit_code == 0, de.output
    assert "published" in de.output.splitlines()[1]
    bad = runner.invoke(main, ["dns", "latency", "--line", "nope"])
    assert bad.exit_code == 2
    assert "unknown line 'nope'" in bad.output
