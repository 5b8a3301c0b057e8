"""The identity database: the declarative base of every identity model, and its column types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, MetaData
from sqlalchemy.orm import DeclarativeBase

from servicekit.db import NAMING_CONVENTION, UtcDateTime, new_id, utcnow

__all__ = ["Base", "UtcDateTime", "new_id", "utcnow"]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[str]: JSON}
