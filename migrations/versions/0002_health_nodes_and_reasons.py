"""health: a 'nodes' target kind; DNS change log reasons long enough for the health reason

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 02:40:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "target_kind IN ('cluster', 'rollout', 'slb', 'endpoint', 'cen')"
NEW_KINDS = "target_kind IN ('cluster', 'nodes', 'rollout', 'slb', 'endpoint', 'cen')"
TABLES = ('health_samples', 'health_states', 'health_transitions')


def _kinds(check: str) -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f'ck_{table}_target_kind'), type_='check')
            batch.create_check_constraint(op.f(f'ck_{table}_target_kind'), check)


def upgrade() -> None:
    _kinds(NEW_KINDS)
    with op.batch_alter_table('dns_change_log') as batch:
        batch.alter_column('reason', existing_type=sa.String(length=64), type_=sa.String(length=1024))


def downgrade() -> None:
    op.execute("DELETE FROM health_samples WHERE target_kind = 'nodes'")
    op.execute("DELETE FROM health_states WHERE target_kind = 'nodes'")
    op.execute("DELETE FROM health_transitions WHERE target_kind = 'nodes'")
    op.execute("UPDATE dns_change_log SET reason = substr(reason, 1, 64)")
    with op.batch_alter_table('dns_change_log') as batch:
        batch.alter_column('reason', existing_type=sa.String(length=1024), type_=sa.String(length=64))
    _kinds(OLD_KINDS)
