"""Agents and enrolment tokens, the script catalogue, run output and run details, remote sessions, access
requests (X1) and the customers' remote-access setting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 20:30:24.400395
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('access_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('asset_id', sa.String(length=36), nullable=False),
    sa.Column('ticket_id', sa.String(length=36), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_by_id', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_requests'))
    )
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.create_index('ix_access_requests_customer_requested', ['customer_id', 'requested_at', 'id'], unique=False)

    op.create_table('agents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('asset_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('os', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('connected_replica', sa.String(length=100), nullable=True),
    sa.Column('connection_id', sa.String(length=36), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('public_key', name=op.f('uq_agents_public_key'))
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.create_index('ix_agents_asset', ['asset_id'], unique=False)
        batch_op.create_index('ix_agents_customer', ['customer_id'], unique=False)

    op.create_table('customer_settings',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('remote_access_enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_settings'))
    )
    op.create_table('enrolment_tokens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('asset_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_enrolment_tokens_token_hash'))
    )
    op.create_table('idempotency_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('principal', sa.String(length=120), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('result_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('principal', 'scope', 'key', name='principal_scope_key')
    )
    op.create_table('remote_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('asset_id', sa.String(length=36), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('ticket_id', sa.String(length=36), nullable=False),
    sa.Column('access_request_id', sa.String(length=36), nullable=False),
    sa.Column('opened_by_kind', sa.String(length=16), nullable=False),
    sa.Column('opened_by', sa.String(length=200), nullable=False),
    sa.Column('opener_kind', sa.String(length=32), nullable=False),
    sa.Column('opener_subject', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=False),
    sa.Column('bytes_to_device', sa.BigInteger(), nullable=False),
    sa.Column('bytes_from_device', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_remote_sessions'))
    )
    with op.batch_alter_table('remote_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_remote_sessions_customer_started', ['customer_id', 'started_at', 'id'], unique=False)

    op.create_table('scripts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('timeout_seconds', sa.Integer(), nullable=False),
    sa.Column('portal', sa.Boolean(), nullable=False),
    sa.Column('portal_name', sa.String(length=200), nullable=False),
    sa.Column('portal_confirmation', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("language IN ('shell', 'python')", name=op.f('ck_scripts_language')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scripts'))
    )
    op.create_table('script_run_output',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['script_runs.id'], name=op.f('fk_script_run_output_run_id_script_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'position', name=op.f('pk_script_run_output'))
    )
    with op.batch_alter_table('script_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('script_id', sa.String(length=36), nullable=False, server_default=sa.text("''")))
        batch_op.add_column(sa.Column('ticket_id', sa.String(length=36), nullable=False, server_default=sa.text("''")))
        batch_op.add_column(sa.Column('requested_by', sa.String(length=200), nullable=False, server_default=sa.text("''")))
        batch_op.add_column(sa.Column('agent_id', sa.String(length=36), nullable=False, server_default=sa.text("''")))
        batch_op.add_column(sa.Column('timeout_seconds', sa.Integer(), nullable=False, server_default=sa.text("'300'")))
        batch_op.add_column(sa.Column('output_size', sa.Integer(), nullable=False, server_default=sa.text("'0'")))
        batch_op.add_column(sa.Column('truncated', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('error', sa.String(length=500), nullable=False, server_default=sa.text("''")))
        batch_op.create_index('ix_script_runs_status_started', ['status', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('script_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_script_runs_status_started')
        batch_op.drop_column('error')
        batch_op.drop_column('truncated')
        batch_op.drop_column('output_size')
        batch_op.drop_column('timeout_seconds')
        batch_op.drop_column('agent_id')
        batch_op.drop_column('requested_by')
        batch_op.drop_column('ticket_id')
        batch_op.drop_column('script_id')

    op.drop_table('script_run_output')
    op.drop_table('scripts')
    with op.batch_alter_table('remote_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_remote_sessions_customer_started')

    op.drop_table('remote_sessions')
    op.drop_table('idempotency_keys')
    op.drop_table('enrolment_tokens')
    op.drop_table('customer_settings')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_index('ix_agents_customer')
        batch_op.drop_index('ix_agents_asset')

    op.drop_table('agents')
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_access_requests_customer_requested')

    op.drop_table('access_requests')
