"""The JSON API, /metrics and the probes, served in-process by the sandbox's dashboard: answers agree
with the CLI they share logic with, filters and paging work, bad input is a 400 naming the parameter,
a token guards everything but the probes, a standby serves the same pages and says who leads, and
every metric the Grafana dashboard queries is on /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import dns.asyncquery
import dns.edns
import dns.message
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from federation.cli import main
from federation.config import Settings
from federation.controller.manager import ControllerConfig
from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox
from federation.store.health import HealthSampleData, HealthStateData, TransitionData
from federation.web.server import serve_dashboard
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana" / "fedctl.json"


def _config(identity: str) -> ControllerConfig:
    return ControllerConfig(
        namespace=SYSTEM_NAMESPACE,
        identity=identity,
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.25,
        probe_interval=0.5,
        member_timeout=1.0,
        resync=30.0,
    )


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    settings = Settings(web_listen="127.0.0.1:0")
    sb = Sandbox(
        tmp_path,
        rollout_delay=0.1,
        dns_provider="embedded",
        controller_config=_config("it"),
        settings=settings,
        web=True,
    )
    await sb.start()
    try:
        await wait_for(lambda: sb.wait_dns_published(within=0.5), 20, "the example app's DNS published")
        yield sb
    finally:
        await sb.stop()


async def _get(url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url, allow_redirects=False, **kw) as r:
        text = await r.text()
        ctype = r.headers.get("Content-Type", "")
        return r.status, json.loads(text) if ctype.startswith("application/json") else text


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


async def test_api_agrees_with_the_cli_and_pages_and_filters(sandbox: Sandbox) -> None:
    sb = sandbox
    assert sb.dashboard is not None
    base = sb.dashboard.url
    assert (await _get(base + "healthz"))[0] == 200
    status, ready = await _get(base + "readyz")
    assert (status, ready) == (200, "ready\n")

    # the client box's answer is fedctl dns show --client-ip's, from the same code
    status, resolved = await _get(base + "api/v1/dns/resolve", params={"client": "36.21.0.0/24"})
    assert status == 200
    shown = await _in_thread(
        _cli, "--database-url", str(sb.database_url), "dns", "show", "--client-ip", "36.21.0.0/24", "--json"
    )
    assert shown.exit_code == 0, shown.output
    client = json.loads(shown.stdout)["client"]  # stdout: a log line may land in output
    assert (resolved["line"], resolved["chain"], resolved["scope"]) == (
        client["line"],
        client["chain"],
        client["scope"],
    )
    assert resolved["answers"]["www.example.com"] == {
        "line": client["answers"]["www.example.com"][0],
        "values": client["answers"]["www.example.com"][1],
    }

    # each latency cell carries the same number and source as fedctl dns latency
    status, matrix = await _get(base + "api/v1/dns/latency")
    assert status == 200
    assert matrix["regions"] == ["cn-beijing", "cn-hangzhou", "eu-central-1"]
    row = next(r for r in matrix["lines"] if r["line"] == "os_namerica")
    latency = await _in_thread(
        _cli, "--database-url", str(sb.database_url), "dns", "latency", "--line", "os_namerica", "--json"
    )
    by_region = {r["region"]: r for r in json.loads(latency.stdout)["regions"]}
    for cell in row["cells"]:
        assert (cell["rtt_ms"], cell["source"]) == (
            by_region[cell["region"]]["rtt_ms"],
            by_region[cell["region"]]["source"],
        )

    # the line tree: published lines and the parents the others fall back to
    status, tree = await _get(base + "api/v1/dns/lines", params={"name": "www.example.com"})
    lines = {t["line"]: t for t in tree["lines"]}
    assert lines["default"]["published"]
    assert not lines["cn_telecom_zhejiang"]["published"]
    assert lines["cn_telecom_zhejiang"]["from_line"] in ("internal", "telecom", "cn_region_huadong")

    # paging and time filters on the change log
    status, first = await _get(base + "api/v1/dns/changes", params={"limit": "3"})
    assert status == 200
    assert len(first["items"]) == 3
    assert first["next"]
    status, second = await _get(base.rstrip("/") + first["next"])
    assert second["offset"] == 3
    assert second["items"]
    assert second["items"][0] != first["items"][0]
    everything = (await _get(base + "api/v1/dns/changes", params={"limit": "1000"}))[1]["items"]
    assert everything[:3] == first["items"]
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await _get(base + "api/v1/dns/changes", params={"since": future}))[1]["items"] == []
    assert len((await _get(base + "api/v1/dns/changes", params={"since": "1h"}))[1]["items"]) == len(
        everything
    )
    named = (await _get(base + "api/v1/dns/changes", params={"name": "nothing.example.com"}))[1]
    assert named["items"] == []

    # bad input: a 400 naming the parameter
    for params, field in (
        ({"client": "not-an-address"}, "client"),
        ({}, "client"),
    ):
        status, body = await _get(base + "api/v1/dns/resolve", params=params)
        assert status == 400
        assert body["error"].startswith(field)
    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"offset": "x"}, "offset"),
    ):
        status, body = await _get(base + "api/v1/dns/changes", params=params)
        assert status == 400
        assert body["error"].startswith(field)
    assert (await _get(base + "api/v1/apps/default/missing"))[0] == 404

    # every route under /api/v1 is in the OpenAPI document
    status, doc = await _get(base + "api/v1/openapi.json")
    routes = {r.resource.canonical for r in sb.dashboard.make_app().router.routes() if r.resource is not None}
    api = {p for p in routes if p.startswith("/api/v1/")}
    assert api <= set(doc["paths"])


async def _in_thread(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args)


async def test_health_history_and_metrics(sandbox: Sandbox) -> None:
    from federation.store.health import record_health_samples, record_transition, upsert_health_state

    sb = sandbox
    assert sb.dashboard is not None
    assert sb.db is not None
    base = sb.dashboard.url
    now = datetime.now(UTC)
    await sb.db.run(
        record_health_samples,
        [
            HealthSampleData(
                "endpoint",
                "default/web@cn-hangzhou",
                "cn-hangzhou",
                ok,
                now - timedelta(seconds=s),
                "default/web",
            )
            for s, ok in ((30, True), (20, False), (10, False))
        ],
    )
    await sb.db.run(
        upsert_health_state,
        HealthStateData(
            "endpoint",
            "default/web@cn-hangzhou",
            "cn-hangzhou",
            "unhealthy",
            2,
            0,
            now,
            "default/web",
            reason="connection refused",
        ),
    )
    await sb.db.run(
        record_transition,
        TransitionData(
            "endpoint",
            "default/web@cn-hangzhou",
            "cn-hangzhou",
            "healthy",
            "unhealthy",
            "2 failed probes",
            now,
            "default/web",
        ),
    )

    status, app = await _get(base + "api/v1/apps/default/web")
    assert status == 200
    assert [s["state"] for s in app["health"]["states"]] == ["unhealthy"]
    assert len(app["health"]["samples"]["endpoint:default/web@cn-hangzhou"]) == 3
    assert app["health"]["transitions"][0]["reason"] == "2 failed probes"
    assert any(e["reason"] == "ReplicasPlaced" for e in app["placement"])
    status, overview = await _get(base + "api/v1/overview")
    row = next(r for r in overview["apps"][0]["regions"] if r["region"] == "cn-hangzhou")
    assert row["healthReason"] == ""  # the status says Healthy: a stored reason would mislead there
    trans = (await _get(base + "api/v1/health/transitions", params={"app": "default/web", "since": "5m"}))[1]
    assert [t["to_state"] for t in trans["items"]] == ["unhealthy"]
    assert (await _get(base + "api/v1/health/transitions", params={"app": "other/app"}))[1]["items"] == []
    states = (await _get(base + "api/v1/health/states", params={"region": "cn-hangzhou"}))[1]["items"]
    assert [s["target_id"] for s in states] == ["default/web@cn-hangzhou"]

    # a DNS query to the embedded server is counted under its client's line
    q = dns.message.make_query(
        "www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption.from_text("36.21.0.0/24")]
    )
    assert sb.dns_address is not None
    await dns.asyncquery.udp(q, sb.dns_address[0], port=sb.dns_address[1], timeout=3)

    status, text = await _get(base + "metrics")
    assert status == 200
    assert 'fedctl_leader{identity="it"} 1.0' in text
    assert re.search(r'fedctl_dns_queries_total\{line="cn_telecom_zhejiang",rcode="NOERROR"\} [1-9]', text)
    assert (
        'fedctl_health_state{app="default/web",region="cn-hangzhou",signal="endpoint",'
        'state="unhealthy",target="default/web@cn-hangzhou"} 1.0'
    ) in text
    assert re.search(r'fedctl_health_transitions_total\{signal="endpoint",to_state="unhealthy"\} [1-9]', text)
    assert re.search(r'fedctl_dns_published_records\{line="default"\} 3', text)
    assert re.search(r'fedctl_reconcile_total\{queue="app",result="success"\} [1-9]', text)
    assert re.search(r'fedctl_kube_requests_total\{cluster="host",code="200"\} [1-9]', text)
    assert 'fedctl_queue_depth{queue="app"}' in text
    assert re.search(r'fedctl_queue_longest_running_processor_seconds\{queue="app"\} \d', text)

    # every metric a Grafana query names is served
    served = set(re.findall(r"^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)", text, re.M))
    exprs = [t["expr"] for p in json.loads(GRAFANA.read_text())["panels"] for t in p["targets"]]
    named = {m for e in exprs for m in re.findall(r"\b(fedctl_[a-z_]+)\b", e)}
    assert len(named) >= 10
    missing = {m for m in named if m not in served and re.sub(r"_(bucket|sum|count)$", "", m) not in served}
    assert not missing, f"Grafana queries metrics /metrics does not serve: {sorted(missing)}"


async def test_a_token_guards_all_but_the_probes(sandbox: Sandbox) -> None:
    sb = sandbox
    assert sb.host is not None
    token = "tok-" + "x" * 20
    dash = await serve_dashboard(
        Settings(web_listen="127.0.0.1:0", web_token=SecretStr(token)), sb.host, db=sb.db
    )
    try:
        base = dash.url
        for path in ("api/v1/apps", "metrics", "api/v1/dns/changes"):
            status, _ = await _get(base + path)
            assert status == 401, path
        assert (await _get(base))[0] == 302  # a page sends a browser to the sign-in form
        assert (await _get(base + "api/v1/apps", headers={"Authorization": "Bearer wrong"}))[0] == 401
        status, body = await _get(base + "api/v1/apps", headers={"Authorization": f"Bearer {token}"})
        assert status == 200
        assert token not in json.dumps(body)
        for probe in ("healthz", "readyz"):
            assert (await _get(base + probe))[0] == 200
        # (aiohttp keeps cookies of an IP address only when told to; browsers do)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(base + "login", data={"token": "wrong"}, allow_redirects=False) as r:
                assert r.headers["Location"].startswith("/login")
            async with s.post(base + "login", data={"token": token}, allow_redirects=False) as r:
                assert r.status == 302
            async with s.get(base + "api/v1/apps") as r:  # the cookie the form set
                assert r.status == 200
    finally:
        await dash.close()


async def test_a_standby_serves_the_dashboard_and_says_who_leads(sandbox: Sandbox) -> None:
    sb = sandbox
    assert sb.host is not None
    standby = await sb.start_controller(_config("standby"))
    dash = await serve_dashboard(Settings(web_listen="127.0.0.1:0"), sb.host, db=sb.db, controller=standby)
    try:
        status, leader = await _get(dash.url + "api/v1/leader")
        assert status == 200
        assert leader == {
            **leader,
            "holder": "it",
            "self": "standby",
            "selfIsLeader": False,
            "role": "standby",
        }
        await wait_for(lambda: _get(dash.url + "readyz"), 5, "the standby's dashboard ready")
        apps = (await _get(dash.url + "api/v1/apps"))[1]["items"]
        assert [a["key"] for a in apps] == ["default/web"]
        status, text = await _get(dash.url + "metrics")
        assert 'fedctl_leader{identity="standby"} 0.0' in text
    finally:
        await dash.close()
        await sb.stop_controller(standby)
