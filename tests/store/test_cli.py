"""`fedctl db ...` on both engines: in-process through click's CliRunner, and as a real `fedctl`
subprocess. The DSN's password never appears in the output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from federation.cli import main
from federation.store import migrate
from federation.store.db import Database
from federation.store.queries import (
    HealthSampleData,
    LatencySampleData,
    record_health_samples,
    record_latency_samples,
)

PASSWORD = "Pw-Never-Print-Me"


def _with_password(url: str) -> str:
    """PostgreSQL URLs get a password (the test server trusts loopback, so any password works)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(password=PASSWORD).render_as_string(hide_password=False)
    return url


def _fedctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "fedctl"
    cmd = [str(exe)] if exe.exists() else [shutil.which("fedctl") or "fedctl"]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("FEDCTL_CONFIG", None)
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def _seed_samples(url: str, now: datetime) -> None:
    store = Database(url)
    try:
        with store.session() as s:
            record_health_samples(
                s,
                [
                    HealthSampleData("endpoint", "vip", "cn-hangzhou", ok=True, at=now - timedelta(days=40)),
                    HealthSampleData("endpoint", "vip", "cn-hangzhou", ok=True, at=now - timedelta(days=10)),
                    HealthSampleData("endpoint", "vip", "cn-hangzhou", ok=True, at=now - timedelta(hours=1)),
                ],
            )
            record_latency_samples(
                s, [LatencySampleData("telecom", "cn-hangzhou", 3.0, now - timedelta(days=9))]
            )
    finally:
        store.dispose()


def test_db_commands_in_process(empty_url: str) -> None:
    url = _with_password(empty_url)
    runner = CliRunner()

    def db(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--database-url", url, "db", *args], catch_exceptions=False)
        assert PASSWORD not in result.output
        return result.exit_code, result.output

    code, out = db("current")
    assert code == 0
    assert "no revision" in out
    assert "run `fedctl db upgrade`" in out

    code, out = db("check")
    assert code == 1
    assert "empty (no revision)" in out

    code, out = db("upgrade")
    assert code == 0
    assert f"at revision {migrate.head()}" in out
    assert migrate.current(empty_url) == migrate.head()

    code, out = db("current")
    assert code == 0
    assert f"{migrate.head()} (head)" in out

    code, out = db("check")
    assert code == 0
    assert f"models and migrations agree at {migrate.head()}" in out

    _seed_samples(empty_url, datetime.now(UTC))
    code, out = db("prune", "--retention-days", "7")
    assert code == 0
    assert "deleted 2 health and 1 latency samples" in out
    assert "retention 7 days" in out
    code, out = db("prune")  # the setting's default, 14 days: the 10-day-old sample is gone already
    assert code == 0
    assert "deleted 0 health and 0 latency samples" in out

    code, out = db("downgrade", "base")
    assert code == 0
    assert "at revision base" in out
    assert migrate.current(empty_url) is None

    code, out = db("prune")
    assert code == 1
    assert "fedctl db upgrade" in out


def test_check_fails_on_drift(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE dns_change_log ADD COLUMN surprise INTEGER"))
    finally:
        engine.dispose()
    result = CliRunner().invoke(main, ["--database-url", _with_password(empty_url), "db", "check"])
    assert result.exit_code == 1
    assert "a migration is missing" in result.output
    assert "surprise" in result.output
    assert PASSWORD not in result.output


def test_unreachable_database_is_one_line_error_without_password() -> None:
    url = f"postgresql+psycopg://fedctl:{PASSWORD}@127.0.0.1:1/nowhere?connect_timeout=2"
    result = CliRunner().invoke(main, ["--database-url", url, "db", "current"])
    assert result.exit_code == 1
    assert "database error" in result.output
    assert "Connection refused" in result.output
    assert PASSWORD not in result.output
    assert "Traceback" not in result.output


def test_db_commands_as_a_real_fedctl_process(empty_url: str) -> None:
    url = _with_password(empty_url)

    up = _fedctl("--database-url", url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"at revision {migrate.head()}" in up.stdout

    # Two read-only commands side by side (keeps the test short). The environment variable works as
    # well as the flag.
    with ThreadPoolExecutor(2) as pool:
        cur_f = pool.submit(_fedctl, "db", "current", env={"FEDCTL_DATABASE_URL": url})
        chk_f = pool.submit(_fedctl, "--database-url", url, "--log-format", "json", "db", "check")
        cur, chk = cur_f.result(), chk_f.result()
    assert cur.returncode == 0, cur.stderr
    assert f"{migrate.head()} (head)" in cur.stdout
    assert chk.returncode == 0, chk.stderr
    assert "models and migrations agree" in chk.stdout

    _seed_samples(empty_url, datetime.now(UTC))
    pr = _fedctl("--database-url", url, "db", "prune", "--retention-days", "7")
    assert pr.returncode == 0, pr.stderr
    assert "deleted 2 health and 1 latency samples" in pr.stdout

    for proc in (up, cur, chk, pr):
        assert PASSWORD not in proc.stdout + proc.stderr


def test_unknown_revision_is_a_clear_error(empty_url: str) -> None:
    result = CliRunner().invoke(main, ["--database-url", empty_url, "db", "upgrade", "0999"])
    assert result.exit_code == 1
    assert "Can't locate revision identified by '0999'" in result.output
    assert "Traceback" not in result.output


def test_fedctl_config_masks_the_dsn_password() -> None:
    url = f"postgresql+psycopg://fedctl:{PASSWORD}@db.internal:5432/federation"
    result = CliRunner().invoke(main, ["--database-url", url, "config"])
    assert result.exit_code == 0
    assert '"database_url": "postgresql+psycopg://fedctl:***@db.internal:5432/federation"' in result.output
    assert PASSWORD not in result.output


def test_help_lists_the_db_commands() -> None:
    result = CliRunner().invoke(main, ["db", "--help"])
    assert result.exit_code == 0
    for name in ("upgrade", "downgrade", "current", "check", "prune"):
        assert name in result.output


def test_plain_alembic_command_takes_the_url_from_the_settings(tmp_path: Path) -> None:
    """Maintainers' `alembic -c migrations/alembic.ini` reads FEDCTL_DATABASE_URL, no URL in any file."""
    url = f"sqlite:///{tmp_path / 'alembic.db'}"
    ini = Path(migrate.migrations_dir()) / "alembic.ini"
    alembic = Path(sys.executable).parent / "alembic"
    exe = str(alembic) if alembic.exists() else "alembic"
    proc = subprocess.run(
        [exe, "-c", str(ini), "upgrade", "head"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FEDCTL_DATABASE_URL": url},
    )
    assert proc.returncode == 0, proc.stderr
    assert migrate.current(url) == migrate.head()
