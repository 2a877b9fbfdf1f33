"""One atomic INSERT ... ON CONFLICT DO UPDATE for both engines.

A read-then-write upsert races when two units of work touch the same key (the second INSERT fails
with a unique violation). SQLite (3.24+) and PostgreSQL both have ``ON CONFLICT``; SQLAlchemy exposes
it per dialect, so this picks the right one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from federation.store.models import Base


def upsert(
    session: Session,
    model: type[Base],
    values: Mapping[str, Any],
    key: Sequence[str],
    update: Callable[[Any], Mapping[str, Any]] | None = None,
) -> None:
    """Insert ``values``, or update the row with the same ``key`` columns.

    The update sets every non-key column of ``values`` unless ``update`` is given: it receives the
    proposed row (``excluded``, its columns by name) and returns the assignments.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values)
    changes = (
        update(stmt.excluded) if update is not None else {k: stmt.excluded[k] for k in values if k not in key}
    )
    session.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=changes))
