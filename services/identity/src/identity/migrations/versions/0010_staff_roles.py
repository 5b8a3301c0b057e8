"""Staff accounts (SPEC S1): a role on every staff user (admin or technician), a way to deactivate one, and the
staff halves of MFA and invitations (their own tables, since the portal ones point at portal_users).

Staff users that exist before this migration (the bootstrap account) become admins.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="technician"))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE staff_users SET role = 'admin'"))

    op.create_table(
        "staff_mfa_factors",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], name=op.f("fk_staff_mfa_factors_user_id_staff_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_mfa_factors")),
    )
    op.create_table(
        "staff_mfa_recovery_codes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_staff_mfa_recovery_codes_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_mfa_recovery_codes")),
    )
    op.create_index("ix_staff_mfa_recovery_codes_user_id", "staff_mfa_recovery_codes", ["user_id"])
    op.create_table(
        "staff_password_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_staff_password_tokens_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_password_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_password_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("staff_password_tokens")
    op.drop_index("ix_staff_mfa_recovery_codes_user_id", table_name="staff_mfa_recovery_codes")
    op.drop_table("staff_mfa_recovery_codes")
    op.drop_table("staff_mfa_factors")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("role")
