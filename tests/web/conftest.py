"""Fixtures of the dashboard tests: ``fedctl sandbox`` run as a user runs it (a subprocess printing the
dashboard's URL), and a headless Chromium driven through WebDriver with Debian's chromedriver.

Chromium is told to reach nothing but loopback: every other host goes to a dead proxy on 127.0.0.1
and its background services (updates, sync, safe browsing) are off.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class SandboxProcess:
    """A running ``fedctl sandbox`` and what it printed."""

    def __init__(self, proc: subprocess.Popen[str], workdir: Path, printed: str) -> None:
        self.proc = proc
        self.workdir = workdir
        self.printed = printed
        m = re.search(r"^Dashboard: (http://\S+)", printed, re.M)
        assert m, f"the sandbox printed no dashboard URL:\n{printed}"
        self.url = m.group(1)
        self.manifest = json.loads((workdir / "sandbox.json").read_text())
        self.host_kubeconfig = Path(self.manifest["clusters"]["host"]["kubeconfig"])

    def secrets(self) -> dict[str, str]:
        """The AccessKey secret of the emulator and every kubeconfig's bearer token."""
        out = {
            "access_key_secret": json.loads((self.workdir / "aliyun.json").read_text())["access_key_secret"]
        }
        for path in sorted((self.workdir / "kubeconfigs").glob("*.kubeconfig")):
            for user in yaml.safe_load(path.read_text()).get("users") or []:
                token = (user.get("user") or {}).get("token")
                if token:
                    out[f"token of {path.name}"] = token
        return out

    def host_call(self, fn: Any) -> Any:
        """Run ``await fn(host_api)`` against the sandbox's host cluster, from the (sync) test."""
        from federation.clusters.kubeapi import KubeApi

        async def run() -> Any:
            api = await KubeApi.from_kubeconfig_file(self.host_kubeconfig, name="test")
            try:
                return await fn(api)
            finally:
                await api.close()

        return asyncio.run(run())

    def set_drained(self, region: str, drained: bool) -> None:
        from federation.api import constants as c
        from federation.controller.resources import MEMBERCLUSTERS

        value = c.HEALTH_OVERRIDE_UNHEALTHY if drained else None
        patch = {"metadata": {"annotations": {c.ANNOTATION_REGION_HEALTH: value}}}
        self.host_call(lambda api: api.merge_patch(MEMBERCLUSTERS, region, patch))


def _read_until(proc: subprocess.Popen[str], marker: str, within: float) -> str:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith(marker):
            return "".join(seen)
    raise AssertionError(f"the sandbox did not print {marker!r} within {within}s:\n{''.join(seen)}")


@pytest.fixture(scope="module")
def sandbox_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    workdir = tmp_path_factory.mktemp("sandbox")
    env = {
        **os.environ,
        "FEDCTL_WEB_LISTEN": "127.0.0.1:0",
        "FEDCTL_LOG_LEVEL": "info",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    log = (workdir.parent / f"{workdir.name}.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "federation.cli",
            "sandbox",
            "--workdir",
            str(workdir),
            "--rollout-delay",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    try:
        printed = _read_until(proc, "Everything is listed in", 90)
        yield SandboxProcess(proc, workdir, printed)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def browser_available() -> bool:
    found = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
    if not found and os.environ.get("CI"):
        raise RuntimeError("CI=true but chromium/chromedriver are missing: .ci/run must install them")
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not browser_available():
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--no-pings",
        "--metrics-recording-only",
        "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
        # anything that is not loopback goes to a dead proxy on loopback, and no name is resolved
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the system chromedriver: selenium must not look for (or download) a driver of its own
    service = Service(executable_path=shutil.which("chromedriver", path="/usr/bin") or CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
