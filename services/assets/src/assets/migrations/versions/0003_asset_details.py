"""Asset details (SPEC A1, A2): notes, per-asset custom fields with a customer-editable flag, retirement, and
idempotency keys for assets and sites; an index of a site's assets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("custom_fields", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_assets_idempotency", ["customer_id", "idempotency_key"])
    op.create_index(op.f("ix_assets_site"), "assets", ["site_id"])
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_sites_idempotency", ["customer_id", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_constraint("uq_sites_idempotency", type_="unique")
        batch.drop_column("idempotency_key")
    op.drop_index(op.f("ix_assets_site"), table_name="assets")
    with op.batch_alter_table("assets") as batch:
        batch.drop_constraint("uq_assets_idempotency", type_="unique")
        batch.drop_column("idempotency_key")
        batch.drop_column("retired_at")
        batch.drop_column("custom_fields")
        batch.drop_column("notes")
