"""The outbox and inbox tables every service database has (created by its first migration)."""

from __future__ import annotations

import sqlalchemy as sa


def outbox_columns() -> list[sa.Column]:
    """Events written in the same transaction as their change; the relay publishes and marks them."""
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    ]


def inbox_columns() -> list[sa.Column]:
    """Event ids a consumer has handled, so a redelivery changes nothing."""
    return [
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    ]


kit_metadata = sa.MetaData()
outbox = sa.Table("outbox", kit_metadata, *outbox_columns())
inbox = sa.Table("inbox", kit_metadata, *inbox_columns())
