"""Languages (SPEC H5): the language each portal user and staff user reads (pages, emails, PDFs), and a customer's
default language for its users who have not chosen one. Empty means "not chosen": the customer's default, else
English.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("portal_users", "staff_users", "customers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default=""))


def downgrade() -> None:
    for table in ("customers", "staff_users", "portal_users"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("language")
