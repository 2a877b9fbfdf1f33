"""`fedctl sim aliyun` as a user runs it: a real process, its config file, faults flipped from the CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from federation.cli import main
from federation.cloud.alibaba.alidns import AlidnsApi
from federation.cloud.alibaba.client import AlibabaClient
from federation.cloud.alibaba.errors import AlibabaError
from federation.cloud.alibaba.retry import NO_RETRY
from federation.cloud.alibaba.slb import BackendServer, ListenerSpec, SlbApi
from federation.sandbox.aliyun import AliyunEmulator

FEDCTL = [sys.executable, "-m", "federation.cli"]


async def _run(*args: str) -> tuple[int, str, str]:
    """Run a short `fedctl` sub-command in-process (a thread: it runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_sim_aliyun_runs_writes_config_and_takes_faults(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *FEDCTL,
        "sim",
        "aliyun",
        "--listen",
        "127.0.0.1:0",
        "--out",
        str(tmp_path),
        "--domain",
        "example.org",
        "--edition",
        "enterprise_ultimate",
        "--dns-listen",
        "127.0.0.1:0",
        "--data-plane",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert ready.startswith("aliyun emulator ready endpoint=127.0.0.1:")
        path = tmp_path / "aliyun.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        doc = json.loads(path.read_text())
        assert doc["domains"] == ["example.org"]
        assert doc["access_key_secret"] not in ready
        host, port = doc["dns"].rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) > 0

        client = AlibabaClient(
            doc["access_key_id"],
            doc["access_key_secret"],
            "cn-hangzhou",
            endpoint=doc["endpoint"],
            retry=NO_RETRY,
        )
        api = AlidnsApi(client)
        await api.add_domain_record("example.org", "www", "A", "192.0.2.1", ttl=1)  # ultimate: TTL 1 allowed

        code, out, err = await _run(
            "sim",
            "aliyun",
            "fault",
            "--out",
            str(tmp_path),
            "--product",
            "alidns",
            "--action",
            "DescribeDomainInfo",
            "--throttle",
            "1",
        )
        assert code == 0, err
        assert json.loads(out)["throttle"] == 1.0
        with pytest.raises(AlibabaError) as info:
            await api.describe_domain_info("example.org")
        assert info.value.code == "Throttling.User"
        code, _, err = await _run("sim", "aliyun", "fault", "--out", str(tmp_path), "--clear")
        assert code == 0, err
        assert (await api.describe_domain_info("example.org"))["MinTtl"] == 1

        code, out, _ = await _run("sim", "aliyun", "state", "--out", str(tmp_path), "--calls")
        assert json.loads(out) == {"Alidns.AddDomainRecord": 1, "Alidns.DescribeDomainInfo": 2}
        lb = await SlbApi(client).create_load_balancer("cn-beijing", "web", client_token="cli-1")
        await SlbApi(client).create_listener("cn-beijing", lb["LoadBalancerId"], ListenerSpec("tcp", 80, 80))
        await SlbApi(client).start_listener("cn-beijing", lb["LoadBalancerId"], 80)
        with pytest.raises(AlibabaError) as info:  # not an instance the region knows
            await SlbApi(client).add_backend_servers(
                "cn-beijing", lb["LoadBalancerId"], [BackendServer("i-1")]
            )
        assert info.value.code == "ObtainIpFail"
        code, _, err = await _run(
            "sim",
            "aliyun",
            "instance",
            "--out",
            str(tmp_path),
            "--region",
            "cn-beijing",
            "--instance-id",
            "i-1",
        )
        assert code == 0, err
        await SlbApi(client).add_backend_servers("cn-beijing", lb["LoadBalancerId"], [BackendServer("i-1")])
        code, out, err = await _run("sim", "aliyun", "state", "--out", str(tmp_path))
        assert code == 0, err
        dump = json.loads(out)
        assert [lb["LoadBalancerId"] for lb in dump["slb"]["load_balancers"]] == [lb["LoadBalancerId"]]
        # --data-plane: the SLB's address answers on loopback, its started listener with its real port
        [served] = dump["slb_data_plane"]
        assert (served["address"], served["listener_port"]) == (lb["Address"], 80)
        assert lb["Address"].startswith("127.")
        assert [r["RR"] for r in dump["alidns"]["records"]] == ["www"]
        assert doc["access_key_secret"] not in out
        code, snap, err = await _run("sim", "aliyun", "snapshot", "--out", str(tmp_path))
        assert code == 0, err
        code, _, err = await _run(
            "sim",
            "aliyun",
            "backend-health",
            "--out",
            str(tmp_path),
            "--lb-id",
            lb["LoadBalancerId"],
            "--server-id",
            "i-1",
            "--status",
            "abnormal",
        )
        assert code == 0, err
        health = await SlbApi(client).describe_health_status("cn-beijing", lb["LoadBalancerId"])
        assert [h["ServerHealthStatus"] for h in health] == ["abnormal"]
        await AlidnsApi(client).add_domain_record("example.org", "later", "A", "192.0.2.7", ttl=1)
        code, _, err = await _run("sim", "aliyun", "restore", "--out", str(tmp_path), snap.strip())
        assert code == 0, err
        assert [r.rr for r in await api.describe_domain_records("example.org")] == ["www"]
        code, _, err = await _run(
            "sim",
            "aliyun",
            "backend-health",
            "--out",
            str(tmp_path),
            "--lb-id",
            "lb-x",
            "--server-id",
            "i-1",
            "--status",
            "abnormal",
        )
        assert code != 0
        assert "lb-x" in err
        code, _, err = await _run("sim", "aliyun", "fault", "--out", str(tmp_path))
        assert code != 0
        assert "--throttle" in err
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)
    assert proc.returncode == 0


async def test_snapshot_and_restore(emu: AliyunEmulator, client: AlibabaClient) -> None:
    api = AlidnsApi(client)
    await api.add_domain_record("example.com", "keep", "A", "192.0.2.1", ttl=60)
    snap = emu.snapshot()
    await api.add_domain_record("example.com", "drop", "A", "192.0.2.2", ttl=60)
    emu.restore(snap)
    assert [r.rr for r in await api.describe_domain_records("example.com")] == ["keep"]
    # ids keep counting from the snapshot and the duplicate rule sees restored state
    with pytest.raises(AlibabaError) as info:
        await api.add_domain_record("example.com", "keep", "A", "192.0.2.1", ttl=60)
    assert info.value.code == "DomainRecordDuplicate"


async def test_sim_aliyun_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = await _run(
            "sim", "aliyun", "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path), "--no-dns"
        )
    assert code == 1
    assert f"--listen 127.0.0.1:{port}" in err
    assert not (tmp_path / "aliyun.json").exists()


async def test_busy_dns_port_leaves_nothing_listening() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        emu = AliyunEmulator(domains=["example.com"])
        with pytest.raises(OSError, match=r"[Aa]ddress already in use"):
            await emu.start("127.0.0.1", 0, dns_port=port)
    api_port = int(emu.endpoint.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", api_port)) != 0  # the API listener was closed again
