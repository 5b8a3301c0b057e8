"""The tickets database: the declarative base of every tickets model, and its column types."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from servicekit.db import NAMING_CONVENTION, UtcDateTime

__all__ = ["Base", "UtcDateTime"]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
