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
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import SandboxProcess

pytestmark = pytest.mark.slow

LIVE_WITHIN = 5.0  # the promise: a drain is on the open page within 5 s


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _wait_text(driver: Any, css: str, text: str, within: float = 15.0) -> Any:
    def found(d: Any) -> Any:
        for el in d.find_elements(By.CSS_SELECTOR, css):
            if text in el.text:
                return el
        return False

    try:
        return WebDriverWait(driver, within, poll_frequency=0.1).until(found)
    except Exception:
        shown = [el.text for el in driver.find_elements(By.CSS_SELECTOR, css)]
        raise AssertionError(f"{css!r} never showed {text!r} within {within}s; it showed {shown!r}") from None


def _shot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def _addresses(sb: SandboxProcess) -> dict[str, str]:
    from federation.controller.resources import FEDERATEDAPPS

    app = sb.host_call(lambda api: api.get(FEDERATEDAPPS, "web", "default"))
    return {r["region"]: r["address"] for r in app["status"]["regions"] if r.get("address")}


def _record_health(sb: SandboxProcess) -> None:
    """What the health sweeps store for a failing endpoint probe, written to the sandbox's store."""
    from datetime import UTC, datetime, timedelta

    from federation.store.db import Database
    from federation.store.health import (
        HealthSampleData,
        HealthStateData,
        TransitionData,
        record_health_samples,
        record_transition,
        upsert_health_state,
    )

    now = datetime.now(UTC)
    target = ("endpoint", "default/web@cn-hangzhou", "cn-hangzhou")
    db = Database(sb.manifest["database"])
    try:
        samples = [
            HealthSampleData(*target, ok, now - timedelta(seconds=s), "default/web", detail="GET /")
            for s, ok in ((60, True), (40, False), (20, False))
        ]
        db.call(record_health_samples, samples)
        db.call(upsert_health_state, HealthStateData(*target, "unhealthy", 2, 0, now, "default/web"))
        db.call(
            record_transition,
            TransitionData(
                *target, "healthy", "unhealthy", "2 failed probes", now - timedelta(seconds=20), "default/web"
            ),
        )
    finally:
        db.dispose()


def test_overview_app_and_dns_pages(sandbox_proc: SandboxProcess, browser: Any, tmp_path: Path) -> None:
    sb, driver = sandbox_proc, browser
    addresses = _addresses(sb)
    assert set(addresses) == {"cn-hangzhou", "cn-beijing", "eu-central-1"}

    driver.get(sb.url)
    row = _wait_text(
        driver, 'tr[data-app="default/web"][data-region="cn-hangzhou"]', addresses["cn-hangzhou"]
    )
    assert "Healthy" in row.text
    assert "serving" in row.text
    assert "lb-" in row.text  # the regional SLB's id
    _wait_text(driver, 'tr[data-app="default/web"][data-region="cn-beijing"]', "backends 3/3 normal")
    _wait_text(driver, 'tr[data-member="cn-beijing"]', "v1.")
    _wait_text(driver, "#leader", "leader: sandbox")
    _shot(driver, tmp_path, "overview")

    _record_health(sb)
    driver.get(sb.url + "apps/default/web")
    _wait_text(driver, "#app-regions tr[data-region='eu-central-1']", addresses["eu-central-1"])
    _wait_text(driver, "#placement", "ReplicasPlaced")
    # the health timeline: the samples as marks on the target's lane, the transition in the table
    lane = 'svg.timeline g[data-target="endpoint:default/web@cn-hangzhou"]'
    WebDriverWait(driver, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, lane + " rect.bad")) == 2)
    assert len(driver.find_elements(By.CSS_SELECTOR, lane + " rect.ok")) == 1
    _wait_text(driver, "#transitions", "2 failed probes")
    _shot(driver, tmp_path, "app")

    driver.get(sb.url + "dns")
    # unicom clients are published on their own line and get Beijing; the default line gets everyone
    unicom = _wait_text(driver, 'tr[data-line="unicom"]', addresses["cn-beijing"])
    assert "published" in unicom.text
    default = _wait_text(driver, 'tr[data-line="default"]', addresses["cn-hangzhou"])
    assert all(a in default.text for a in addresses.values())
    box = driver.find_element(By.ID, "client-ip")
    box.send_keys("36.21.0.0/24")
    driver.find_element(By.ID, "client-go").click()
    answer = _wait_text(driver, "#client-answer", "cn_telecom_zhejiang")
    assert f"www.example.com → {addresses['cn-hangzhou']}" in answer.text
    assert "cn_telecom_zhejiang › cn_telecom_huadong › telecom" in answer.text
    # the heatmap says where each number came from: North America -> Frankfurt is a published figure
    cells = _wait_text(driver, 'tr[data-latency-line="os_namerica"]', "published").find_elements(
        By.CSS_SELECTOR, "td.cell"
    )
    assert [c.text for c in cells][-1] == "153published"  # columns: the members' regions, sorted
    _wait_text(driver, "#changes", "created")
    _shot(driver, tmp_path, "dns")
    assert _console_errors(driver) == []


def test_a_drain_shows_on_the_open_pages_within_5s(
    sandbox_proc: SandboxProcess, browser: Any, tmp_path: Path
) -> None:
    sb, driver = sandbox_proc, browser
    addresses = _addresses(sb)
    driver.get(sb.url + "dns")
    box = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "client-ip"))
    box.send_keys("36.21.0.0/24")
    driver.find_element(By.ID, "client-go").click()
    _wait_text(driver, "#client-answer", f"→ {addresses['cn-hangzhou']}")

    sb.set_drained("cn-hangzhou", True)
    try:
        started = time.monotonic()
        _wait_text(driver, "#client-answer", f"→ {addresses['cn-beijing']}", within=LIVE_WITHIN)
        print(f"drain on the open DNS page after {time.monotonic() - started:.2f}s")
        _wait_text(driver, "#changes", "region-unhealthy", within=LIVE_WITHIN)
        _shot(driver, tmp_path, "dns-drained")

        driver.get(sb.url)
        row = _wait_text(
            driver, 'tr[data-app="default/web"][data-region="cn-hangzhou"]', "not serving", within=LIVE_WITHIN
        )
        assert "Unhealthy" in row.text
        _wait_text(driver, 'tr[data-member="cn-hangzhou"]', "drained", within=LIVE_WITHIN)
        _shot(driver, tmp_path, "overview-drained")
    finally:
        sb.set_drained("cn-hangzhou", False)
    started = time.monotonic()
    row = _wait_text(driver, 'tr[data-app="default/web"][data-region="cn-hangzhou"]', "Healthy", within=10)
    _wait_text(driver, 'tr[data-app="default/web"][data-region="cn-hangzhou"]', "serving", within=10)
    print(f"recovery on the open overview after {time.monotonic() - started:.2f}s")
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
    assert MARKUP in annotations.text  # shown as the text it is
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
        WebDriverWait(driver, 10).until(lambda d: "live ·" in d.find_element(By.ID, "live").text)
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
