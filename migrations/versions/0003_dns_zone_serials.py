"""dns zone serials: the change counter replicas poll to serve the published records

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 02:30:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'dns_zone_serials',
        sa.Column('zone', sa.String(length=255), nullable=False),
        sa.Column('serial', sa.BigInteger(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('zone', name=op.f('pk_dns_zone_serials')),
    )
    # Zones published before this revision get a serial, so replicas find them.
    op.execute(
        "INSERT INTO dns_zone_serials (zone, serial, changed_at) "
        "SELECT zone, 1, MAX(published_at) FROM dns_published_records GROUP BY zone"
    )


def downgrade() -> None:
    op.drop_table('dns_zone_serials')
