"""The dashboard in a real browser (headless Chromium), against ``fedctl sandbox`` as a user starts it:
each page shows what a user looks for, a drain shows on the open page within 5 s, markup in an app's
annotations is shown as text, no secret reaches a page or an API answer, and the console stays clean.
Screenshots are saved in the test's temporary directory."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import SandboxProcess

pytestmark = pytest.mark.slow

LIVE_WITHIN = 5.0  # the promise: a drain is on the open page within 5 s


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


# the pages re-render every second: an element found may be replaced before it is read
STALE = (StaleElementReferenceException,)


def _wait_text(driver: Any, css: str, text: str, within: float = 15.0) -> str:
    """The text of the first element matching ``css`` that shows ``text`` (the pages re-render every
    second, so an element found may be gone a moment later: read its text while looking)."""

    def found(d: Any) -> str | bool:
        try:
            for el in d.find_elements(By.CSS_SELECTOR, css):
                shown = el.text
                if text in shown:
                    return str(shown)
        except StaleElementReferenceException:
            pass  # replaced by the next render: look again
        return False

    try:
        return str(WebDriverWait(driver, within, poll_frequency=0.1, ignored_exceptions=STALE).until(found))
    except Exception:
        shown = [el.text for el in driver.find_elements(By.CSS_SELECTOR, css)]
        raise AssertionError(f"{css!r} never showed {text!r} within {within}s; it showed {shown!r}") from None


def _shot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def _regions(sb: SandboxProcess) -> dict[str, dict[str, Any]]:
    """The app's per-region status now (what the pages must agree with)."""
    from federation.controller.resources import FEDERATEDAPPS

    app = sb.host_call(lambda api: api.get(FEDERATEDAPPS, "web", "default"))
    return {r["region"]: r for r in app["status"]["regions"]}


def _dns_answer(sb: SandboxProcess, subnet: str) -> set[str]:
    """What the sandbox's DNS server answers a client of ``subnet`` (EDNS Client Subnet)."""
    import dns.edns
    import dns.message
    import dns.query

    host, port = sb.manifest["dns"].rsplit(":", 1)
    q = dns.message.make_query(
        "www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption.from_text(subnet)]
    )
    msg = dns.query.udp(q, host, port=int(port), timeout=3)
    return {rd.to_text() for rrset in msg.answer for rd in rrset}


def _client_values(driver: Any) -> set[str]:
    """The addresses the client box shows for www.example.com."""
    els = driver.find_elements(
        By.CSS_SELECTOR, '#client-answer li[data-answer-for="www.example.com"] .values'
    )
    try:
        return set(els[0].text.split(", ")) if els else set()
    except StaleElementReferenceException:
        return set()  # replaced by the next render: the caller's wait looks again


def test_overview_app_and_dns_pages(sandbox_proc: SandboxProcess, browser: Any, tmp_path: Path) -> None:
    sb, driver = sandbox_proc, browser
    regions = _regions(sb)
    assert set(regions) == {"cn-hangzhou", "cn-beijing", "eu-central-1"}

    # each region's row shows its address, SLB, health and DNS state as the app's status has them
    driver.get(sb.url)
    for name, r in regions.items():
        row = _wait_text(driver, f'tr[data-app="default/web"][data-region="{name}"]', r["address"])
        assert r["loadBalancerId"] in row
    for name, r in _regions(sb).items():  # the SLB's backend health, once the SLB step reported it
        if r.get("backendHealth"):
            _wait_text(driver, f'tr[data-app="default/web"][data-region="{name}"]', "backends ")
    _wait_text(driver, 'tr[data-member="cn-beijing"]', "v1.")
    _wait_text(driver, "#leader", "leader: sandbox")
    _shot(driver, tmp_path, "overview")

    driver.get(sb.url + "apps/default/web")
    _wait_text(driver, "#app-regions tr[data-region='eu-central-1']", regions["eu-central-1"]["address"])
    _wait_text(driver, "#placement", "ReplicasPlaced")
    # the health timeline from the sandbox's sweeps: each sample a mark on its target's lane
    lane = 'svg.timeline g[data-target="cluster:cn-hangzhou"]'
    WebDriverWait(driver, 15, ignored_exceptions=STALE).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, lane + " rect.ok")
    )
    _wait_text(driver, "#transitions", "cluster")
    _shot(driver, tmp_path, "app")

    driver.get(sb.url + "dns")
    # the default line answers every region DNS serves
    serving = [r["address"] for r in _regions(sb).values() if r.get("servingDNS")]
    assert serving
    for address in serving:
        _wait_text(driver, 'tr[data-line="default"]', address)
    assert "published" in driver.find_element(By.CSS_SELECTOR, 'tr[data-line="default"]').text
    # the client box answers what the DNS server answers that client
    box = driver.find_element(By.ID, "client-ip")
    box.send_keys("36.21.0.0/24")
    driver.find_element(By.ID, "client-go").click()
    answer = _wait_text(driver, "#client-answer", "cn_telecom_zhejiang")
    assert "cn_telecom_zhejiang › cn_telecom_huadong › telecom" in answer
    WebDriverWait(driver, 10, ignored_exceptions=STALE).until(
        lambda d: _client_values(d) == _dns_answer(sb, "36.21.0.0/24")
    )
    # the heatmap says where each number came from: North America -> Frankfurt is a published figure
    _wait_text(driver, 'tr[data-latency-line="os_namerica"]', "published")
    last = WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-latency-line="os_namerica"] td.cell')[-1].text
    )
    assert last == "153published"  # columns: the members' regions, sorted
    _wait_text(driver, "#changes", "created")
    _shot(driver, tmp_path, "dns")
    assert _console_errors(driver) == []


def test_a_drain_shows_on_the_open_pages_within_5s(
    sandbox_proc: SandboxProcess, browser: Any, tmp_path: Path
) -> None:
    sb, driver = sandbox_proc, browser
    driver.get(sb.url + "dns")
    box = WebDriverWait(driver, 10, ignored_exceptions=STALE).until(
        lambda d: d.find_element(By.ID, "client-ip")
    )
    box.send_keys("36.21.0.0/24")
    driver.find_element(By.ID, "client-go").click()
    before = WebDriverWait(driver, 10, ignored_exceptions=STALE).until(_client_values)
    by_address = {r["address"]: name for name, r in _regions(sb).items()}
    drained = by_address[sorted(before)[0]]  # the region this client is sent to now

    sb.set_drained(drained, True)
    try:
        started = time.monotonic()
        WebDriverWait(driver, LIVE_WITHIN, poll_frequency=0.1, ignored_exceptions=STALE).until(
            lambda d: _client_values(d) not in (before, set())
        )
        print(f"drain of {drained} on the open DNS page after {time.monotonic() - started:.2f}s")
        # the new answer is the DNS server's, and the change log says why
        WebDriverWait(driver, LIVE_WITHIN, ignored_exceptions=STALE).until(
            lambda d: _client_values(d) == _dns_answer(sb, "36.21.0.0/24")
        )
        # region-unhealthy; fail-open when the drained region was the last healthy one
        WebDriverWait(driver, LIVE_WITHIN, ignored_exceptions=STALE).until(
            lambda d: any(
                w in d.find_element(By.ID, "changes").text for w in ("region-unhealthy", "fail-open")
            )
        )
        _shot(driver, tmp_path, "dns-drained")

        driver.get(sb.url)
        _wait_text(driver, f'tr[data-member="{drained}"]', "drained", within=LIVE_WITHIN)
        row = _wait_text(
            driver, f'tr[data-app="default/web"][data-region="{drained}"]', "Unhealthy", within=LIVE_WITHIN
        )
        assert "federation.io/health-override=Unhealthy" in row
        _shot(driver, tmp_path, "overview-drained")
    finally:
        sb.set_drained(drained, False)
    WebDriverWait(driver, 10, ignored_exceptions=STALE).until(
        lambda d: "drained" not in d.find_element(By.CSS_SELECTOR, f'tr[data-member="{drained}"]').text
    )
    assert _console_errors(driver) == []


MARKUP = '<img src=x onerror="window.__xss=1"><b id="xss-b">bold</b><script>window.__xss=2</script>'


def _apply_xss_app(sb: SandboxProcess, secret: str) -> None:
    from federation.controller.resources import FEDERATEDAPPS

    app = {
        "apiVersion": "federation.io/v1alpha1",
        "kind": "FederatedApp",
        "metadata": {
            "name": "xss",
            "namespace": "default",
            "labels": {"team": "b-bold"},
            "annotations": {"note": MARKUP, "runbook": '"><svg onload=window.__xss=3>', "pasted": secret},
        },
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "xss"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            "placement": {"strategy": "Spread", "regions": [{"name": "cn-beijing"}, {"name": "ap-south-1"}]},
            "ports": [{"name": "http", "port": 80}],
            "dns": {"zone": "example.com", "hostname": "xss.example.com"},
        },
    }
    sb.host_call(lambda api: api.create(FEDERATEDAPPS, app, "default"))


def test_markup_is_text_and_no_secret_reaches_a_page(
    sandbox_proc: SandboxProcess, browser: Any, tmp_path: Path
) -> None:
    sb, driver = sandbox_proc, browser
    secrets = sb.secrets()
    assert len(secrets) >= 5  # the AccessKey secret and the tokens of the host and three members
    _apply_xss_app(sb, secrets["access_key_secret"])  # a user pasting a secret into an annotation

    driver.get(sb.url + "apps/default/xss")
    annotations = _wait_text(driver, "#annotations", 'id="xss-b"')
    assert MARKUP in annotations  # shown as the text it is
    assert driver.find_elements(By.ID, "xss-b") == []  # never parsed into elements
    assert driver.execute_script("return window.__xss === undefined")
    # a region the spec lists without a MemberCluster is shown, and says why it has nothing
    _wait_text(driver, "#app-regions tr[data-region='ap-south-1']", "no MemberCluster")
    _shot(driver, tmp_path, "xss")

    driver.get(sb.url)
    _wait_text(driver, 'section[data-app="default/xss"]', "team=b-bold")
    assert driver.execute_script("return window.__xss === undefined")

    pages = {}
    for path in ("", "dns", "apps/default/web", "apps/default/xss"):
        driver.get(sb.url + path)
        WebDriverWait(driver, 10, ignored_exceptions=STALE).until(
            lambda d: "live ·" in d.find_element(By.ID, "live").text
        )
        pages[path or "/"] = driver.page_source
    api = [
        "api/v1/overview",
        "api/v1/apps",
        "api/v1/apps/default/web",
        "api/v1/apps/default/xss",
        "api/v1/regions",
        "api/v1/members",
        "api/v1/leader",
        "api/v1/dns/records",
        "api/v1/dns/lines",
        "api/v1/dns/resolve?client=36.21.0.0/24",
        "api/v1/dns/latency",
        "api/v1/dns/changes?limit=1000",
        "api/v1/health/states",
        "api/v1/health/transitions",
        "metrics",
        "healthz",
        "readyz",
    ]
    for path in api:
        with urllib.request.urlopen(sb.url + path, timeout=10) as resp:  # loopback only
            pages[path] = resp.read().decode()
    for where, text in pages.items():
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} appears in {where}"
    assert "***" in pages["api/v1/apps/default/xss"]  # the pasted secret, redacted
    assert _console_errors(driver) == []


def test_fedctl_dashboard_serves_a_store_and_a_host_without_a_controller(
    sandbox_proc: SandboxProcess,
) -> None:
    """An operator's laptop: `fedctl dashboard` against the sandbox's store and host cluster."""
    import json
    import os
    import subprocess
    import sys

    sb = sandbox_proc
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
    args = ["--database-url", sb.manifest["database"], "dashboard", "--kubeconfig", str(sb.host_kubeconfig)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "federation.cli", *args, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split()[1]

        def get(path: str) -> Any:
            with urllib.request.urlopen(url + path, timeout=10) as resp:  # loopback only
                return json.loads(resp.read())

        deadline = time.monotonic() + 10
        while not get("api/v1/apps")["items"] and time.monotonic() < deadline:
            time.sleep(0.1)
        leader = get("api/v1/leader")
        assert (leader["role"], leader["holder"]) == ("dashboard", "sandbox")
        assert "default/web" in [a["key"] for a in get("api/v1/apps")["items"]]
        assert get("api/v1/dns/changes?limit=1")["items"][0]["name"].endswith("example.com")
    finally:
        proc.terminate()
        proc.wait(10)
