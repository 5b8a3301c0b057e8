"""A retried upload answers the first one's attachment (issue 13): the uploader's idempotency key per ticket.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch.create_unique_constraint(
            "uq_attachments_ticket_id_created_by_idempotency_key", ["ticket_id", "created_by", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_constraint("uq_attachments_ticket_id_created_by_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
