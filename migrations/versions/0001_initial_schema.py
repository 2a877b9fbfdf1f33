"""initial schema

Written from the models by autogenerate, then checked and reordered by hand: tables in
dependency order, plain indexes (no batch mode needed to create them), and downgrade drops
tables in reverse order (their indexes go with them). Column types are plain SQLAlchemy types
(``UTCDateTime`` is ``DateTime(timezone=True)`` underneath), so this file never imports the app.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 20:53:19.968985+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'regions',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_regions')),
    )
    op.create_table(
        'member_clusters',
        sa.Column('name', sa.String(length=253), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('kubernetes_version', sa.String(length=64), nullable=True),
        sa.Column('node_count', sa.Integer(), nullable=True),
        sa.Column('ready_node_count', sa.Integer(), nullable=True),
        sa.Column('api_latency_ms', sa.Float(), nullable=True),
        sa.Column('reachable', sa.Boolean(), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['region'], ['regions.name'], name=op.f('fk_member_clusters_region_regions')),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_member_clusters')),
    )
    op.create_index(op.f('ix_member_clusters_region'), 'member_clusters', ['region'])
    op.create_table(
        'health_samples',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('target_kind', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=255), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('app', sa.String(length=320), nullable=True),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('latency_ms', sa.Float(), nullable=True),
        sa.Column('detail', sa.String(length=1024), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("target_kind IN ('cluster', 'rollout', 'slb', 'endpoint', 'cen')", name=op.f('ck_health_samples_target_kind')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_health_samples')),
    )
    op.create_index(op.f('ix_health_samples_app_at'), 'health_samples', ['app', 'at'])
    op.create_index(op.f('ix_health_samples_at'), 'health_samples', ['at'])
    op.create_index(op.f('ix_health_samples_region_at'), 'health_samples', ['region', 'at'])
    op.create_index(op.f('ix_health_samples_target_kind_target_id_at'), 'health_samples', ['target_kind', 'target_id', 'at'])
    op.create_table(
        'health_states',
        sa.Column('target_kind', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=255), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('app', sa.String(length=320), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('consecutive_successes', sa.Integer(), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sample_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.String(length=1024), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('healthy', 'unhealthy', 'unknown')", name=op.f('ck_health_states_state')),
        sa.CheckConstraint("target_kind IN ('cluster', 'rollout', 'slb', 'endpoint', 'cen')", name=op.f('ck_health_states_target_kind')),
        sa.CheckConstraint('consecutive_failures >= 0 AND consecutive_successes >= 0', name=op.f('ck_health_states_counters')),
        sa.PrimaryKeyConstraint('target_kind', 'target_id', name=op.f('pk_health_states')),
    )
    op.create_index(op.f('ix_health_states_app'), 'health_states', ['app'])
    op.create_index(op.f('ix_health_states_region'), 'health_states', ['region'])
    op.create_table(
        'health_transitions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('target_kind', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=255), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('app', sa.String(length=320), nullable=True),
        sa.Column('from_state', sa.String(length=16), nullable=False),
        sa.Column('to_state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=1024), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("from_state IN ('healthy', 'unhealthy', 'unknown')", name=op.f('ck_health_transitions_from_state')),
        sa.CheckConstraint("target_kind IN ('cluster', 'rollout', 'slb', 'endpoint', 'cen')", name=op.f('ck_health_transitions_target_kind')),
        sa.CheckConstraint("to_state IN ('healthy', 'unhealthy', 'unknown')", name=op.f('ck_health_transitions_to_state')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_health_transitions')),
    )
    op.create_index(op.f('ix_health_transitions_app_at'), 'health_transitions', ['app', 'at'])
    op.create_index(op.f('ix_health_transitions_at'), 'health_transitions', ['at'])
    op.create_index(op.f('ix_health_transitions_region_at'), 'health_transitions', ['region', 'at'])
    op.create_index(op.f('ix_health_transitions_target_kind_target_id_at'), 'health_transitions', ['target_kind', 'target_id', 'at'])
    op.create_table(
        'latency_samples',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('source', sa.String(length=128), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('rtt_ms', sa.Float(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_latency_samples')),
    )
    op.create_index(op.f('ix_latency_samples_at'), 'latency_samples', ['at'])
    op.create_index(op.f('ix_latency_samples_source_region_at'), 'latency_samples', ['source', 'region', 'at'])
    op.create_table(
        'cloud_resources',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('resource_id', sa.String(length=255), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('owner_namespace', sa.String(length=253), nullable=False),
        sa.Column('owner_name', sa.String(length=253), nullable=False),
        sa.Column('owner_uid', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_resources')),
        sa.UniqueConstraint('provider', 'kind', 'region', 'resource_id', name=op.f('uq_cloud_resources_provider_kind_region_resource_id')),
    )
    op.create_index(op.f('ix_cloud_resources_kind_region'), 'cloud_resources', ['kind', 'region'])
    op.create_index(op.f('ix_cloud_resources_owner_namespace_owner_name'), 'cloud_resources', ['owner_namespace', 'owner_name'])
    op.create_index(op.f('ix_cloud_resources_owner_uid'), 'cloud_resources', ['owner_uid'])
    op.create_table(
        'dns_published_records',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('zone', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('rtype', sa.String(length=16), nullable=False),
        sa.Column('line', sa.String(length=128), nullable=False),
        sa.Column('value', sa.String(length=1024), nullable=False),
        sa.Column('ttl', sa.Integer(), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=True),
        sa.Column('provider_record_id', sa.String(length=128), nullable=True),
        sa.Column('owner_app', sa.String(length=320), nullable=True),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_published_records')),
        sa.UniqueConstraint('zone', 'name', 'rtype', 'line', 'value', name=op.f('uq_dns_published_records_zone_name_rtype_line_value')),
    )
    op.create_index(op.f('ix_dns_published_records_owner_app'), 'dns_published_records', ['owner_app'])
    op.create_table(
        'dns_change_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('zone', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('rtype', sa.String(length=16), nullable=False),
        sa.Column('line', sa.String(length=128), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('old', sa.String(length=1024), nullable=True),
        sa.Column('new', sa.String(length=1024), nullable=True),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('app', sa.String(length=320), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('create', 'update', 'delete')", name=op.f('ck_dns_change_log_action')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_change_log')),
    )
    op.create_index(op.f('ix_dns_change_log_app_at'), 'dns_change_log', ['app', 'at'])
    op.create_index(op.f('ix_dns_change_log_at'), 'dns_change_log', ['at'])
    op.create_index(op.f('ix_dns_change_log_zone_name_at'), 'dns_change_log', ['zone', 'name', 'at'])


def downgrade() -> None:
    op.drop_table('dns_change_log')
    op.drop_table('dns_published_records')
    op.drop_table('cloud_resources')
    op.drop_table('latency_samples')
    op.drop_table('health_transitions')
    op.drop_table('health_states')
    op.drop_table('health_samples')
    op.drop_table('member_clusters')
    op.drop_table('regions')
