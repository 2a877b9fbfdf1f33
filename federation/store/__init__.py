"""Persistent store: SQLAlchemy models, sessions and queries."""
