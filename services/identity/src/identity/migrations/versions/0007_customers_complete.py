"""Customers and contacts complete (SPEC C1-C4, C6): notes, typed phones and addresses, settings, parent
organisation, custom fields and their answers; contact phone and title; a portal user can be disabled.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLAGS = ("tax_free", "remote_access_enabled", "sms_enabled", "no_email")
_LISTS = ("phones", "addresses", "notification_emails", "invoice_cc_emails", "ticket_matching_emails")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("parent_id", sa.String(36), nullable=True))
        for name in _LISTS:
            batch.add_column(sa.Column(name, sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("tax_rate_bp", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("invoice_terms_days", sa.Integer(), nullable=True))
        for name in _FLAGS:
            batch.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("internal_ticket_warning", sa.Text(), nullable=False, server_default=""))
        batch.create_foreign_key(op.f("fk_customers_parent_id_customers"), "customers", ["parent_id"], ["id"])
        batch.create_index(op.f("ix_customers_parent_id"), ["parent_id"])

    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("phone", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("title", sa.String(200), nullable=False, server_default=""))

    with op.batch_alter_table("portal_users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "custom_fields",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("name_key", name=op.f("uq_custom_fields_name_key")),
    )
    op.create_table(
        "customer_field_values",
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("field_id", sa.String(36), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_field_values_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["field_id"], ["custom_fields.id"], name=op.f("fk_customer_field_values_field_id_custom_fields")
        ),
        sa.PrimaryKeyConstraint("customer_id", "field_id", name=op.f("pk_customer_field_values")),
    )
    op.create_index(op.f("ix_customer_field_values_field_id"), "customer_field_values", ["field_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_field_values_field_id"), table_name="customer_field_values")
    op.drop_table("customer_field_values")
    op.drop_table("custom_fields")
    with op.batch_alter_table("portal_users") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("title")
        batch.drop_column("phone")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index(op.f("ix_customers_parent_id"))
        batch.drop_constraint(op.f("fk_customers_parent_id_customers"), type_="foreignkey")
        for name in (
            "internal_ticket_warning",
            *_FLAGS,
            "invoice_terms_days",
            "tax_rate_bp",
            *_LISTS,
            "parent_id",
            "notes",
        ):
            batch.drop_column(name)
