"""The controller in the sandbox publishes the example app's DNS to the emulated alidns or to the
embedded server; clients in different lines get their nearest region; a drained region leaves DNS and
comes back, logged with its reason; the steady state writes nothing; deleting the app releases its names."""

from __future__ import annotations

import asyncio
import json
import shlex

from click.testing import CliRunner

from federation.cli import main
from federation.dns.plan import owner_name
from federation.sandbox.wiring import DNS_CLIENTS
from tests.integration.conftest import HOSTNAME, Running
from tests.waiting import wait_for

# The nearest region of each client population of the sandbox's hints (ECS subnet -> region), with
# cn-hangzhou drained. The addresses always come from the app's status.
NEAREST = {"36.21.0.0/24": "cn-hangzhou", "123.125.0.0/24": "cn-beijing", "85.214.0.0/24": "eu-central-1"}
NEAREST_WITHOUT_HANGZHOU = {**NEAREST, "36.21.0.0/24": "cn-beijing"}


async def _answers(run: Running, addresses: dict[str, str], expected: dict[str, str]) -> bool:
    for subnet, region in expected.items():
        _, got = await run.query(subnet)
        if got != {addresses[region]}:
            return False
    return True


async def test_clients_get_their_nearest_region_and_a_drained_region_leaves_dns(running: Running) -> None:
    run = running
    assert set(NEAREST) == {cidr for cidr, _, _ in DNS_CLIENTS}  # what the hints print is what is tested
    addresses = await run.addresses()
    assert len(set(addresses.values())) == 3  # one LoadBalancer address per region

    for subnet, region in NEAREST.items():
        rcode, got = await run.query(subnet)
        assert (rcode, got) == ("NOERROR", {addresses[region]}), subnet
        assert await run.dig(subnet) == {addresses[region]}, subnet
    _, everyone = await run.query(None)  # no ECS: 127.0.0.1 is on the default line, every region
    assert everyone == set(addresses.values())
    manifest = json.loads((run.sb.workdir / "sandbox.json").read_text())
    assert manifest["dns"] == f"{run.dns_address[0]}:{run.dns_address[1]}"
    assert manifest["database"].startswith("sqlite:///")
    assert run.sb.emulator is not None
    assert manifest["aliyun"] == run.sb.emulator.endpoint
    assert run.sb.emulator.access_key_secret not in json.dumps(manifest)
    assert (run.sb.workdir / "aliyun.json").stat().st_mode & 0o777 == 0o600

    await _printed_commands_work(run, addresses)

    await run.set_drained("cn-hangzhou", True)
    await wait_for(
        lambda: _answers(run, addresses, NEAREST_WITHOUT_HANGZHOU),
        10,
        "cn-hangzhou's clients answered by cn-beijing",
    )
    assert await run.dig("36.21.0.0/24") == {addresses["cn-beijing"]}

    async def hangzhou_not_served() -> dict[str, object] | None:
        hz = (await run.regions())["cn-hangzhou"]
        return hz if hz.get("servingDNS") is False else None

    hz = await wait_for(hangzhou_not_served, 5, "status: cn-hangzhou not serving DNS")  # written after DNS
    assert "drained" in str(hz["dnsReason"])
    assert (await run.regions())["cn-beijing"]["servingDNS"] is True
    assert any(r.startswith("region-unhealthy: drained") for r in await run.change_reasons())
    status = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", "web", "--kubeconfig", str(run.sb.kubeconfigs["host"])]
    )
    assert status.exit_code == 0, status.output
    # stdout alone: a warning logged to stderr meanwhile (a retried call under load) is not the table
    table = status.stdout.splitlines()
    header = table[0].split()
    rows = {ln.split()[1]: dict(zip(header, ln.split(), strict=False)) for ln in table[1:4]}
    assert (rows["cn-hangzhou"]["ADDRESS"], rows["cn-hangzhou"]["DNS"]) == (addresses["cn-hangzhou"], "no")
    assert (rows["cn-beijing"]["ADDRESS"], rows["cn-beijing"]["DNS"]) == (addresses["cn-beijing"], "yes")

    await run.set_drained("cn-hangzhou", False)
    await wait_for(lambda: _answers(run, addresses, NEAREST), 10, "cn-hangzhou back in DNS")
    await wait_for(run.published, 10, "cn-hangzhou served again")
    assert "region-recovered" in await run.change_reasons()


async def test_steady_state_writes_nothing_and_deleting_the_app_releases_its_names(running: Running) -> None:
    run = running
    ctrl, emu = run.sb.controller, run.sb.emulator
    assert ctrl is not None
    assert emu is not None
    assert await ctrl.wait_idle(10)
    calls_before, log_before = emu.call_counts(), await run.change_reasons()
    ctrl.enqueue_all_apps()  # a forced resync: every app reconciled again
    await _settled(run)
    calls_after = emu.call_counts()
    writes = {
        k: calls_after.get(k, 0) - calls_before.get(k, 0)
        for k in calls_after
        if k.startswith("Alidns.") and not k.startswith("Alidns.Describe")
    }
    assert not any(writes.values()), writes
    assert await run.change_reasons() == log_before
    if run.provider == "alidns":
        assert any(k.startswith("Alidns.Add") for k in calls_after)  # the records did go through alidns

    assert run.sb.host is not None
    from federation.controller.resources import FEDERATEDAPPS

    await run.sb.host.delete(FEDERATEDAPPS, "web", "default")

    async def gone() -> bool:
        assert run.sb.host is not None
        return await run.sb.host.get(FEDERATEDAPPS, "web", "default") is None

    await wait_for(gone, 15, "the app's finalizer to release it")
    assert (await run.query("36.21.0.0/24"))[0] == "NXDOMAIN"
    assert (await run.query(None, owner_name(HOSTNAME), "TXT"))[0] == "NXDOMAIN"
    names = {HOSTNAME, owner_name(HOSTNAME)}
    if run.provider == "alidns":
        left = [r for r in emu.alidns.records_for_dns("example.com") if r.name in names]
    else:
        assert run.sb.dns_runtime is not None
        left = [r for r in run.sb.dns_runtime.publisher.provider.snapshot("example.com") if r.name in names]
    assert left == []
    assert "released" in await run.change_reasons()


async def _settled(run: Running) -> None:
    ctrl = run.sb.controller
    assert ctrl is not None
    assert await ctrl.wait_idle(10, settle=0.3)


async def _printed_commands_work(run: Running, addresses: dict[str, str]) -> None:
    """The dig and fedctl commands of the sandbox's hints, pasted as printed, give the nearest region."""
    hints = run.sb.hints(addresses)
    commands = [
        shlex.split(line.split("   #", 1)[0])
        for line in hints.splitlines()
        if line.strip().startswith(("dig ", "fedctl ")) and "--kubeconfig" not in line
    ]
    digs = [cmd for cmd in commands if cmd[0] == "dig" and any(a.startswith("+subnet=") for a in cmd)]
    assert len(digs) == len(NEAREST)
    for cmd in digs:
        subnet = next(a for a in cmd if a.startswith("+subnet="))[len("+subnet=") :]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        assert set(out.decode().split()) == {addresses[NEAREST[subnet]]}, cmd
    # the fedctl commands work as pasted after the printed export line
    export = next(line.strip() for line in hints.splitlines() if line.strip().startswith("export "))
    env = dict(item.split("=", 1) for item in shlex.split(export)[1:])
    assert set(env) == {"KUBECONFIG", "FEDCTL_DATABASE_URL"}
    # (the health and fault hints are exercised by tests/integration/test_health_sweeps.py)
    fedctl = [cmd[1:] for cmd in commands if cmd[0] == "fedctl" and cmd[1] not in ("sim", "health")]
    queries = [args for args in fedctl if args[:2] == ["dns", "query"]]
    assert {args[args.index("--client-ip") + 1] for args in queries} >= set(NEAREST)  # a twin of each dig
    for args in queries:
        result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
        assert result.exit_code == 0, (args, result.output)
        cidr = args[args.index("--client-ip") + 1]
        if cidr in NEAREST:
            assert f"A {addresses[NEAREST[cidr]]}" in result.output
    others = {
        args[1] if args[0] == "dns" else args[0]: args for args in fedctl if args[:2] != ["dns", "query"]
    }
    assert set(others) == {"show", "log", "plan", "status"}
    results = {
        name: await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
        for name, args in others.items()
    }
    for name, result in results.items():
        assert result.exit_code == 0, (name, result.output)
    assert f"www.example.com -> {addresses['cn-hangzhou']} " in results["show"].output
    assert "(created)" in results["log"].output
    assert "default/web  cn-hangzhou" in results["status"].output  # KUBECONFIG from the export line
    assert "region cn-hangzhou: unhealthy" in results["plan"].output
