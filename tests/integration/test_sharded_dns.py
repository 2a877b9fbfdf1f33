"""Two sharded `fedctl run` replicas over one store, each with its own embedded DNS server: each
publishes the apps of its own shards, and both servers answer every app's name with the same records,
whichever replica published it."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.api import constants as c
from federation.controller.resources import FEDERATEDAPPS
from federation.controller.shards import shard_of
from federation.sandbox.wiring import Sandbox
from tests.integration.conftest import stop_processes
from tests.integration.test_ha_dns import Replica, _start
from tests.integration.test_sharding import _balanced, _holders, _writes
from tests.waiting import wait_for

REGIONS = ("cn-hangzhou", "cn-beijing")
NS = "dns"
SHARDS = 16


def _app(name: str) -> dict[str, object]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.FEDERATEDAPP_KIND,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": r} for r in REGIONS]},
            "ports": [{"name": "http", "port": 80}],
            "dns": {"zone": "example.com", "hostname": f"{name}.example.com", "ttl": 30},
        },
    }


async def test_every_replica_answers_every_apps_name_whoever_publishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDCTL_SHARDS", str(SHARDS))
    monkeypatch.setenv("FEDCTL_LOG_WRITES", "true")
    sb = Sandbox(
        tmp_path / "sb",
        regions=REGIONS,
        rollout_delay=0.05,
        run_controller=False,
        apply_example=False,
        pods=False,
    )
    await sb.start()
    assert sb.host is not None
    host = sb.host
    url = f"sqlite:///{tmp_path / 'store.db'}"
    replicas: list[Replica] = []
    try:
        await sb.ensure_namespace(NS)
        replicas = [await _start(sb, url, ident, tmp_path) for ident in ("dns-a", "dns-b")]

        async def balanced() -> dict[int, str] | None:
            h = await _holders(host)
            return h if _balanced(h, {r.identity for r in replicas}) else None

        holders = await wait_for(balanced, 30, "the two replicas sharing the shards")
        # apps until each replica publishes at least two of them
        names: list[str] = []
        owner: dict[str, str] = {}
        while len(names) < 40 and min(list(owner.values()).count(r.identity) for r in replicas) < 2:
            name = f"app-{len(names):02d}"
            created = await host.create(FEDERATEDAPPS, _app(name), NS)
            names.append(name)
            owner[name] = holders[shard_of(created["metadata"]["uid"], SHARDS)]

        async def published() -> bool:
            items, _ = await host.list(FEDERATEDAPPS, NS)
            ok = 0
            for a in items:
                conds = {cd["type"]: cd["status"] for cd in (a.get("status") or {}).get("conditions") or []}
                regions = (a.get("status") or {}).get("regions") or []
                if (
                    conds.get(c.COND_READY) == "True"
                    and conds.get(c.COND_DNS_PUBLISHED) == "True"
                    and len(regions) == len(REGIONS)
                    and all(r.get("address") and r.get("servingDNS") for r in regions)
                ):
                    ok += 1
            return ok == len(names)

        await wait_for(published, 60, "every app Ready with its DNS published")
        items, _ = await host.list(FEDERATEDAPPS, NS)
        expected = {a["metadata"]["name"]: {r["address"] for r in a["status"]["regions"]} for a in items}

        async def everyone_answers_everything() -> bool:
            for name in names:
                for r in replicas:
                    assert r.address is not None
                    got = await _ask_name(r.address, f"{name}.example.com")
                    if got != ("NOERROR", expected[name]):
                        return False
            return True

        await wait_for(everyone_answers_everything, 20, "both servers answering every app's name")
        writers = {app.split("/", 1)[1]: {who for _, who in seq} for app, seq in _writes(replicas).items()}
        for name in names:
            assert writers[name] == {owner[name]}, (name, writers[name], owner[name])
        assert {owner[n] for n in names} == {"dns-a", "dns-b"}  # each answers names the other published
    finally:
        await stop_processes(r.proc for r in replicas)
        await sb.stop()


async def _ask_name(address: tuple[str, int], name: str) -> tuple[str, set[str]]:
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rcode

    q = dns.message.make_query(name, "A")
    try:
        msg = await dns.asyncquery.udp(q, address[0], port=address[1], timeout=1.0)
    except (dns.exception.Timeout, OSError):
        return "TIMEOUT", set()
    return dns.rcode.to_text(msg.rcode()), {rd.to_text() for rrset in msg.answer for rd in rrset}
