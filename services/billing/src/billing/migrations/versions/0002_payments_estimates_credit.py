"""Billing settings per customer, number sequences, tax on invoices, payments and their allocations, payment
profiles, estimates, and the store credit ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('customer_billing',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('tax_rate_bp', sa.Integer(), nullable=False),
    sa.Column('tax_free', sa.Boolean(), nullable=False),
    sa.Column('terms_days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_billing'))
    )
    op.create_table('estimates',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'approved', 'declined')", name=op.f('ck_estimates_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_estimates')),
    sa.UniqueConstraint('number', name=op.f('uq_estimates_number'))
    )
    op.create_index('ix_estimates_customer_sent', 'estimates', ['customer_id', 'sent_on', 'id'], unique=False)
    op.create_table('payment_profiles',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('processor_token', sa.String(length=100), nullable=False),
    sa.Column('brand', sa.String(length=20), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('exp_month', sa.Integer(), nullable=False),
    sa.Column('exp_year', sa.Integer(), nullable=False),
    sa.Column('nickname', sa.String(length=60), nullable=False),
    sa.Column('reminder_on', sa.Date(), nullable=True),
    sa.Column('reminder_locked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('card', 'ach')", name=op.f('ck_payment_profiles_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_profiles')),
    sa.UniqueConstraint('processor_token', name=op.f('uq_payment_profiles_processor_token'))
    )
    op.create_index('ix_payment_profiles_customer', 'payment_profiles', ['customer_id', 'created_at'], unique=False)
    op.create_table('payments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('processor_token', sa.String(length=100), nullable=False),
    sa.Column('method', sa.String(length=60), nullable=False),
    sa.Column('charge_id', sa.String(length=100), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f('ck_payments_status')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payments_amount_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('customer_id', 'idempotency_key', name=op.f('uq_payments_customer_id_idempotency_key'))
    )
    op.create_index('ix_payments_customer_created', 'payments', ['customer_id', 'created_at', 'id'], unique=False)
    op.create_table('credit_entries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('invoice_id', sa.String(length=36), nullable=True),
    sa.Column('payment_id', sa.String(length=36), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_credit_entries_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_credit_entries_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_entries'))
    )
    op.create_index('ix_credit_entries_customer', 'credit_entries', ['customer_id', 'created_at'], unique=False)
    op.create_table('estimate_lines',
    sa.Column('estimate_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['estimate_id'], ['estimates.id'], name=op.f('fk_estimate_lines_estimate_id_estimates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('estimate_id', 'position', name=op.f('pk_estimate_lines'))
    )
    op.create_table('payment_allocations',
    sa.Column('payment_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.String(length=36), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_allocations_amount_positive')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_payment_allocations_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_allocations_payment_id_payments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('payment_id', 'position', name=op.f('pk_payment_allocations'))
    )
    op.create_index('ix_payment_allocations_invoice', 'payment_allocations', ['invoice_id'], unique=False)
    # Invoices made before tax existed: their total is their subtotal.
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("subtotal_minor", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("tax_minor", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("tax_rate_bp", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("ticket_id", sa.String(length=36), nullable=True))
    op.execute("UPDATE invoices SET subtotal_minor = total_minor")
    op.create_index("ix_invoices_customer_issued", "invoices", ["customer_id", "issued_on", "id"], unique=False)


def downgrade() -> None:
    op.drop_index('ix_invoices_customer_issued', table_name='invoices')
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("ticket_id")
        batch.drop_column("tax_rate_bp")
        batch.drop_column("tax_minor")
        batch.drop_column("subtotal_minor")
    op.drop_index('ix_payment_allocations_invoice', table_name='payment_allocations')
    op.drop_table('payment_allocations')
    op.drop_table('estimate_lines')
    op.drop_index('ix_credit_entries_customer', table_name='credit_entries')
    op.drop_table('credit_entries')
    op.drop_index('ix_payments_customer_created', table_name='payments')
    op.drop_table('payments')
    op.drop_index('ix_payment_profiles_customer', table_name='payment_profiles')
    op.drop_table('payment_profiles')
    op.drop_index('ix_estimates_customer_sent', table_name='estimates')
    op.drop_table('estimates')
    op.drop_table('customer_billing')
    op.drop_table('counters')
