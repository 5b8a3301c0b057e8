"""Portal controls (SPEC P7, P8, P9, P12) and email templates; secrets at rest.

Contacts get support start and end dates (P7), portal users the admin override (P9), the email templates
table holds staff-customised invitation, reset and login details emails; MFA secrets get room for their
ciphertext and queued emails a `sealed` flag (body encrypted, blanked once sent). Existing TOTP secrets are
encrypted by identity at start-up (the key is a service setting, not something a migration can read).
The off switch, branding and renewal notice live in portal_settings rows and need no schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("support_start", sa.Date(), nullable=True))
        batch.add_column(sa.Column("support_end", sa.Date(), nullable=True))

    with op.batch_alter_table("portal_users") as batch:
        batch.add_column(sa.Column("admin_override", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("mfa_factors") as batch:
        batch.alter_column("secret", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=False)

    with op.batch_alter_table("outbound_emails") as batch:
        batch.add_column(sa.Column("sealed", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        "email_templates",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "language", name=op.f("pk_email_templates")),
    )


def downgrade() -> None:
    op.drop_table("email_templates")
    with op.batch_alter_table("outbound_emails") as batch:
        batch.drop_column("sealed")
    with op.batch_alter_table("mfa_factors") as batch:
        batch.alter_column("secret", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=False)
    with op.batch_alter_table("portal_users") as batch:
        batch.drop_column("admin_override")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("support_end")
        batch.drop_column("support_start")
