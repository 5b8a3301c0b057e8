"""Web push (X7): portal users' browser subscriptions, their opt-in per kind, and the push outbox.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("portal_user_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(100), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_user_id"],
            ["portal_users.id"],
            name=op.f("fk_push_subscriptions_portal_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(op.f("ix_push_subscriptions_portal_user_id"), "push_subscriptions", ["portal_user_id"])
    op.create_index(op.f("ix_push_subscriptions_customer_id"), "push_subscriptions", ["customer_id"])
    op.create_table(
        "push_preferences",
        sa.Column("portal_user_id", sa.String(36), nullable=False),
        sa.Column("ticket_replies", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("estimates", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("invoices", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("remote_requests", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_user_id"],
            ["portal_users.id"],
            name=op.f("fk_push_preferences_portal_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("portal_user_id", name=op.f("pk_push_preferences")),
    )
    op.create_table(
        "outbound_pushes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("cause_event_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_pushes")),
        sa.UniqueConstraint(
            "cause_event_id", "subscription_id", name=op.f("uq_outbound_pushes_cause_event_id_subscription_id")
        ),
    )
    op.create_index(
        "ix_outbound_pushes_pending", "outbound_pushes", ["sent_at", "failed_at", "next_attempt_at"]
    )
    op.create_index(op.f("ix_outbound_pushes_subscription_id"), "outbound_pushes", ["subscription_id"])


def downgrade() -> None:
    op.drop_table("outbound_pushes")
    op.drop_table("push_preferences")
    op.drop_table("push_subscriptions")
