"""Masked credentials and their access log (SPEC A5, X8).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=True),
        sa.Column("document_id", sa.String(36), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("username", sa.String(320), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("customer_id", "created_by", "idempotency_key", name="uq_credentials_idempotency"),
    )
    op.create_index(op.f("ix_credentials_customer_name"), "credentials", ["customer_id", "name", "id"])
    op.create_index(op.f("ix_credentials_key_id"), "credentials", ["key_id"])
    op.create_table(
        "credential_access",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("credential_id", sa.String(36), nullable=False),
        sa.Column("credential_name", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("principal_kind", sa.String(20), nullable=False),
        sa.Column("principal_id", sa.String(64), nullable=False),
        sa.Column("principal_name", sa.String(320), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=False),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_access")),
    )
    op.create_index(
        op.f("ix_credential_access_credential"), "credential_access", ["credential_id", "revealed_at", "id"]
    )
    op.create_index(op.f("ix_credential_access_customer"), "credential_access", ["customer_id", "revealed_at", "id"])
    op.create_index(op.f("ix_credential_access_time"), "credential_access", ["revealed_at", "id"])


def downgrade() -> None:
    op.drop_table("credential_access")
    op.drop_table("credentials")
