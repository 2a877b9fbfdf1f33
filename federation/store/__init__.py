"""Persistent store: SQLAlchemy models, sessions and queries.

``Database`` (``db.py``) owns the engine and units of work; the query functions are gathered in
``queries.py``; the tables in ``models.py``; migrations (Alembic, top-level ``migrations/``) are run
through ``migrate.py`` and ``fedctl db``.
"""

from federation.store.db import Database

__all__ = ["Database"]
