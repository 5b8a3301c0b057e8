"""Documents (SPEC A4): files on a customer, public or internal; the bytes are in the blob store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(64), nullable=False),
        sa.Column("thumbnail_key", sa.String(64), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_by_kind", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(op.f("ix_documents_customer_created"), "documents", ["customer_id", "created_at", "id"])
    op.create_index(
        op.f("uq_documents_idempotency"),
        "documents",
        ["customer_id", "uploaded_by", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(op.f("uq_documents_idempotency"), table_name="documents")
    op.drop_index(op.f("ix_documents_customer_created"), table_name="documents")
    op.drop_table("documents")
