"""The front door: `fedctl` commands, configuration precedence and secret redaction in logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from federation import __version__
from federation.cli import SUBCOMMANDS, main
from federation.config import load_settings
from federation.logsetup import JsonFormatter, RedactingFilter, redact, register_secret, setup_logging


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in [*SUBCOMMANDS, "version", "config"]:
        assert f"  {name} " in result.output
    assert "unavailable" not in result.output, "every sub-command module must import"


def test_version_from_a_real_process() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "federation.cli", "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"fedctl {__version__}"


def test_config_precedence_flag_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "fedctl.yaml"
    cfg.write_text("log-level: warning\ndns_listen: 127.0.0.1:9999\nweb_listen: 127.0.0.1:7000\n")
    monkeypatch.setenv("FEDCTL_CONFIG", str(cfg))
    monkeypatch.setenv("FEDCTL_DNS_LISTEN", "127.0.0.1:8888")
    s = load_settings(web_listen="127.0.0.1:6000")
    assert s.log_level == "warning"  # file only
    assert s.dns_listen == "127.0.0.1:8888"  # env beats file
    assert s.web_listen == "127.0.0.1:6000"  # flag beats both


def test_config_command_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDCTL_ALIBABA_ACCESS_KEY_SECRET", "Sup3rSecretValue")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    assert "Sup3rSecretValue" not in result.output
    assert json.loads(result.output)["alibaba_access_key_secret"] == "***"


def test_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("log_level: loud\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "version"])
    assert result.exit_code == 1
    assert "invalid configuration" in result.output
    assert "log_level" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["lots", "-1", "65", "1.5", "yes"])
def test_bad_dns_workers_in_the_file_is_a_clear_error(tmp_path: Path, value: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"dns_workers: {value}\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "version"])
    assert result.exit_code == 1
    assert "invalid configuration" in result.output
    assert "dns_workers" in result.output
    assert "expected auto or a number of processes from 0 to 64" in result.output
    assert "Traceback" not in result.output


def test_bad_dns_workers_in_the_environment_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDCTL_DNS_WORKERS", "-1")
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 1
    assert "dns_workers" in result.output
    assert "got '-1'" in result.output


@pytest.mark.parametrize(
    ("text", "want"), [("auto", "auto"), ("Auto", "auto"), ("0", 0), ("3", 3), ("64", 64)]
)
def test_dns_workers_is_auto_or_a_number(tmp_path: Path, text: str, want: object) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(f"dns_workers: {text}\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "config"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["dns_workers"] == want


def test_config_flag_does_not_leak_into_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("web_listen: 127.0.0.1:7100\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "config"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["web_listen"] == "127.0.0.1:7100"
    assert "FEDCTL_CONFIG" not in os.environ


def test_registered_and_pattern_secrets_are_redacted() -> None:
    register_secret("AKSECRET-abcdef-123456")
    line = redact("calling with AKSECRET-abcdef-123456 and Authorization: Bearer eyJhbGciOi.x.y token=zzz999")
    assert "AKSECRET-abcdef-123456" not in line
    assert "eyJhbGciOi" not in line
    assert "zzz999" not in line
    assert line.count("***") == 3


def test_json_log_lines_are_redacted_and_parseable() -> None:
    register_secret("kubeconfig-token-0123456789")
    rec = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "token is %s", ("kubeconfig-token-0123456789",), None
    )
    rec.app = "default/web"
    assert RedactingFilter().filter(rec)
    doc = json.loads(JsonFormatter().format(rec))
    assert doc["msg"] == "token is ***"
    assert doc["app"] == "default/web"
    assert doc["level"] == "info"


def test_log_flags_apply_to_every_command(capfd: pytest.CaptureFixture[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "--log-format", "json", "--log-level", "debug", "version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.returncode == 0
    setup_logging("debug", "json")
    logging.getLogger("federation.test").debug("hello %s", "world")
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert json.loads(err)["msg"] == "hello world"
    setup_logging("info", "text")
