"""Kit tables (outbox, inbox) and identity's first tables: customers, contacts, permission groups (with the
two built-in groups), staff and portal users, sessions, the audit log, the mail outbox, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_kit_tables
from servicekit.permissions import BUILT_IN_GROUPS

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_kit_tables(op)

    op.create_table(
        "customers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("business_name", sa.String(200), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False),
        sa.Column("last_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("email_key", name=op.f("uq_customers_email_key")),
    )
    op.create_index("ix_customers_created_at_id", "customers", ["created_at", "id"])

    op.create_table(
        "contacts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_contacts_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index("ix_contacts_customer_id_created_at", "contacts", ["customer_id", "created_at"])
    op.create_index(op.f("ix_contacts_email_key"), "contacts", ["email_key"])

    groups = op.create_table(
        "permission_groups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("built_in", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permission_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_permission_groups_name")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        groups,
        [
            {
                # Fixed ids: the same group has the same id in every installation.
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"portal:identity:permission-group:{name}")),
                "name": name,
                "permissions": sorted(perms),
                "built_in": True,
                "created_at": now,
            }
            for name, perms in BUILT_IN_GROUPS.items()
        ],
    )

    op.create_table(
        "staff_users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("login", sa.String(254), nullable=False),
        sa.Column("login_key", sa.String(254), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("login_key", name=op.f("uq_staff_users_login_key")),
    )

    op.create_table(
        "portal_users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("login", sa.String(254), nullable=False),
        sa.Column("login_key", sa.String(254), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=True),
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_portal_users_contact_id_contacts")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_portal_users_customer_id_customers")),
        sa.ForeignKeyConstraint(
            ["group_id"], ["permission_groups.id"], name=op.f("fk_portal_users_group_id_permission_groups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_users")),
        sa.UniqueConstraint("login_key", name=op.f("uq_portal_users_login_key")),
    )
    op.create_index(op.f("ix_portal_users_contact_id"), "portal_users", ["contact_id"])
    op.create_index(op.f("ix_portal_users_customer_id"), "portal_users", ["customer_id"])
    op.create_index(op.f("ix_portal_users_group_id"), "portal_users", ["group_id"])

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("user_kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("last_seen_at"),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index("ix_sessions_user_kind_user_id", "sessions", ["user_kind", "user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        _ts("at"),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_kind_subject_at", "audit_log", ["kind", "subject", "at"])
    op.create_index("ix_audit_log_kind_address_at", "audit_log", ["kind", "address", "at"])

    op.create_table(
        "outbound_emails",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("cause_event_id", sa.String(64), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("locked_until", nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        _ts("failed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_emails")),
        sa.UniqueConstraint(
            "cause_event_id",
            "template",
            "recipient",
            name=op.f("uq_outbound_emails_cause_event_id_template_recipient"),
        ),
    )
    op.create_index("ix_outbound_emails_pending", "outbound_emails", ["sent_at", "failed_at", "next_attempt_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(120), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "outbound_emails",
        "audit_log",
        "sessions",
        "portal_users",
        "staff_users",
        "permission_groups",
        "contacts",
        "customers",
        "inbox",
        "outbox",
    ):
        op.drop_table(table)
