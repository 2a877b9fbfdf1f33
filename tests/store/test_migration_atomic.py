"""An upgrade cut off half-way leaves the SQLite store as it was (DDL included), so the next start
upgrades cleanly instead of failing on "table ... already exists" (a controller SIGKILLed during
its first start)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations

from federation.store import migrate


class Cut(Exception):
    pass


def test_an_upgrade_cut_off_half_way_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    real = Operations.create_table
    made: list[str] = []

    def create_then_die(self: Operations, name: str, *columns: Any, **kw: Any) -> Any:
        if len(made) == 2:
            raise Cut(f"process killed before creating {name}")
        made.append(name)
        return real(self, name, *columns, **kw)

    monkeypatch.setattr(Operations, "create_table", create_then_die)
    with pytest.raises(Cut):
        migrate.upgrade(url)
    assert len(made) == 2
    monkeypatch.setattr(Operations, "create_table", real)
    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []  # the two tables went with the transaction
    finally:
        engine.dispose()
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
