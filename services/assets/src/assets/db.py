"""The assets database: the declarative base of every assets model, and its column types."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from servicekit.db import NAMING_CONVENTION, UtcDateTime, new_id, utcnow

__all__ = ["Base", "UtcDateTime", "new_id", "utcnow"]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
