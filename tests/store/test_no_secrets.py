"""Guard: the store has no place for a secret. No AccessKey secret, token, password, kubeconfig or
private key may ever be stored (ARCHITECTURE.md, 'Rules'); a column so named fails this test."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from federation.store import migrate
from federation.store.models import Base

SECRETISH = re.compile(r"secret|token|passw|kubeconfig|credential|private|access_?key|cert|auth", re.I)


def test_no_model_column_is_named_like_a_secret() -> None:
    offenders = [
        f"{t.name}.{c.name}"
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if SECRETISH.search(c.name) or SECRETISH.search(t.name)
    ]
    assert offenders == []


def test_no_migrated_column_is_named_like_a_secret(migrated_url: str) -> None:
    engine = create_engine(migrated_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            names = [f"{t}.{c['name']}" for t in insp.get_table_names() for c in insp.get_columns(t)]
    finally:
        engine.dispose()
    assert len(names) > 50  # the whole schema was inspected
    assert [n for n in names if SECRETISH.search(n)] == []
    assert migrate.current(migrated_url) == migrate.head()


def test_the_guard_would_catch_the_usual_names() -> None:
    for bad in ("access_key_secret", "bearer_token", "kubeconfig", "db_password", "client_cert_data"):
        assert SECRETISH.search(bad)
