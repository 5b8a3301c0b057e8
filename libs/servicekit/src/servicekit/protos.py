"""Conversions between Python values and the well-known protobuf types every servicer uses."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(at: datetime) -> Timestamp:
    """`at` as a Timestamp; a naive datetime is taken as UTC (the database reads some back without an offset)."""
    ts = Timestamp()
    ts.FromDatetime(at if at.tzinfo else at.replace(tzinfo=UTC))
    return ts
