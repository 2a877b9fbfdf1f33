"""The stand-ins' control commands against a directory with no running stand-in: one plain sentence
and exit status 1, never a traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from federation.cli import main


def _fedctl(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_sentence(result: Result, *needles: str) -> None:
    # an exception other than SystemExit is what a user would see as a traceback
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["sim", "kube", "fault", "--cluster", "hz", "down"],
        ["sim", "aliyun", "fault", "--product", "alidns", "--clear"],
        ["sim", "aliyun", "state", "--calls"],
    ],
)
def test_no_running_stand_in(tmp_path: Path, command: list[str]) -> None:
    _one_sentence(_fedctl(*command[:3], "--out", str(tmp_path), *command[3:]), "is running", str(tmp_path))


def test_a_stand_in_that_has_stopped(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    (tmp_path / "sim.json").write_text(json.dumps({"admin": {"url": url, "token": "t"}}))
    (tmp_path / "aliyun.json").write_text(json.dumps({"admin_url": url, "admin_token": "t"}))
    _one_sentence(_fedctl("sim", "kube", "fault", "--out", str(tmp_path), "--cluster", "hz", "down"), url)
    _one_sentence(_fedctl("sim", "aliyun", "state", "--out", str(tmp_path), "--calls"), url)
    (tmp_path / "sim.json").write_text("{not json")
    _one_sentence(
        _fedctl("sim", "kube", "fault", "--out", str(tmp_path), "--cluster", "hz", "down"), "sim.json"
    )
