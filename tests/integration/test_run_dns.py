"""`fedctl run` as a process: it opens the store, starts the configured DNS side, publishes the apps'
records (LoadBalancer Services by default, their addresses in DNS) and stops cleanly on SIGTERM; a
DNS configuration error is one line, not a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from federation.sandbox.wiring import Sandbox
from federation.store.db import Database
from federation.store.dnslog import list_dns_changes
from tests.integration.conftest import Running, fedctl_run_command
from tests.waiting import wait_for

FEDCTL = [sys.executable, "-m", "federation.cli"]


async def test_fedctl_run_serves_the_apps_dns_and_logs_it(tmp_path: Path) -> None:
    sb = Sandbox(tmp_path / "sb", rollout_delay=0.1, run_controller=False)
    await sb.start()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = {
        **os.environ,
        "FEDCTL_DATABASE_URL": url,
        "FEDCTL_DNS_PROVIDER": "embedded",
        "FEDCTL_DNS_LISTEN": "127.0.0.1:0",
        "FEDCTL_WEB_LISTEN": "127.0.0.1:0",
    }
    proc = await asyncio.create_subprocess_exec(
        *fedctl_run_command(sb, "run-dns"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        address = None
        while address is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
            assert line, "".join(seen)
            seen.append(line)
            if m := re.search(r"dns: embedded server answering on ([\d.]+):(\d+)", line):
                address = (m.group(1), int(m.group(2)))
        drain = asyncio.create_task(proc.stderr.read())  # keep the pipe flowing
        sb.dns_address = address
        run = Running(sb, "embedded")
        await wait_for(run.published, 30, "the example app's DNS published by fedctl run")
        addresses = await run.addresses()
        assert (await run.query("85.214.0.0/24"))[1] == {addresses["eu-central-1"]}
        assert (await run.query("123.125.0.0/24"))[1] == {addresses["cn-beijing"]}
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)
        await sb.stop()
    err = "".join(seen) + (await drain).decode()
    assert proc.returncode == 0, err[-2000:]
    db = Database(url)
    try:
        reasons = {r.reason for r in db.call(list_dns_changes, app="default/web")}
    finally:
        db.dispose()
    assert "created" in reasons


def test_fedctl_run_with_alidns_but_no_credentials_is_a_one_line_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDCTL_ALIBABA")}
    env.update(FEDCTL_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}", FEDCTL_DNS_PROVIDER="alidns")
    out = subprocess.run([*FEDCTL, "run"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: dns (alidns): dns_provider alidns: alibaba_access_key_id and "
        "alibaba_access_key_secret are required"
    ], out.stderr
    assert "Traceback" not in out.stderr
