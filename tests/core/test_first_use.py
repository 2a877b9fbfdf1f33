"""What a new user meets first: a quick ``--help``, read-only commands that never create a store and
say where they looked, a DNS view that blames the right thing, a readable line list, a quiet Ctrl-C."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from federation.cli import SUBCOMMANDS, lazy_summary, main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "kubernetes_asyncio", "sqlalchemy", "aiohttp", "pydantic", "dns", "prometheus_client")


def test_help_imports_no_subcommand_and_shows_each_summary() -> None:
    code = (
        "import sys, json\n"
        "from federation.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    help_text, loaded = out.rsplit("\n", 2)[0], json.loads(out.rsplit("\n", 2)[1])
    assert loaded == []  # the Kubernetes clients, the store, the web stack: none for --help
    for name, target in SUBCOMMANDS.items():
        module, attr = target.split(":")
        __import__(module)
        cmd = getattr(sys.modules[module], attr)
        # the summary read from source is the one the imported command gives
        assert lazy_summary(target, 45) == cmd.get_short_help_str(45), name
        assert f"  {name} " in help_text


@pytest.mark.parametrize(
    "args",
    [
        ["dns", "log"],
        ["dns", "show", "www.example.com"],
        ["db", "current"],
        ["db", "check"],
        ["db", "prune"],
    ],
)
def test_read_only_commands_never_create_a_store(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--database-url", "sqlite:///elsewhere/federation.db", *args])
    assert result.exit_code == 1
    assert f"no store at {tmp_path / 'elsewhere' / 'federation.db'}" in result.output
    assert "sqlite3" not in result.output
    assert "SELECT" not in result.output
    assert not (tmp_path / "elsewhere").exists()


def test_latency_without_a_store_uses_the_tables_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["--database-url", "sqlite:///x.db", "dns", "latency", "--line", "os_euro"]
    )
    assert result.exit_code == 0, result.output
    assert "eu-central-1" in result.output
    assert not (tmp_path / "x.db").exists()


def test_dns_show_on_an_empty_store_points_at_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'federation.db'}"
    assert CliRunner().invoke(main, ["--database-url", url, "db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(main, ["--database-url", url, "dns", "show", "www.example.com"])
    assert result.exit_code == 1
    assert f"the store {url} holds no published records" in result.output
    assert "FEDCTL_DATABASE_URL" in result.output
    assert "published yet" not in result.output
    empty = tmp_path / "empty.db"
    empty.touch()  # a file with no tables: say so, without SQL
    result = CliRunner().invoke(main, ["--database-url", f"sqlite:///{empty}", "dns", "log"])
    assert result.exit_code == 1
    assert "has no tables yet (run `fedctl db upgrade`" in result.output


def test_dns_lines_has_a_header_and_the_parent_column() -> None:
    result = CliRunner().invoke(main, ["dns", "lines"])
    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == ["LINE", "PARENT", "VANTAGE", "CHAIN"]
    zhejiang = next(r for r in rows if r[0] == "cn_telecom_zhejiang")
    assert zhejiang[1] == "cn_telecom_huadong"
    assert next(r for r in rows if r[0] == "default")[1] == "-"


def test_the_license_is_an_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"


async def test_a_normal_stop_is_logged_at_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from federation.controller.manager import ControllerConfig
    from federation.sandbox.wiring import SYSTEM_NAMESPACE, Sandbox

    config = ControllerConfig(
        namespace=SYSTEM_NAMESPACE,
        identity="quiet",
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.25,
    )
    sb = Sandbox(tmp_path, regions=("cn-hangzhou",), rollout_delay=0.1, controller_config=config)
    await sb.start()
    ctrl = sb.controller
    assert ctrl is not None
    from tests.waiting import wait_for

    await wait_for(lambda: _leading(ctrl), 10, "the controller leading")
    with caplog.at_level(logging.INFO, logger="federation"):
        await sb.stop()
    stopped = [r for r in caplog.records if "stopped leading" in r.getMessage()]
    assert [r.levelname for r in stopped] == ["INFO"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def _leading(ctrl: object) -> bool:
    return bool(getattr(ctrl, "is_leader", False))
