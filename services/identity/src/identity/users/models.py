from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class StaffUser(Base):
    """A technician or admin of the operator (SPEC S1)."""

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    login: Mapped[str] = mapped_column(String(254))
    login_key: Mapped[str] = mapped_column(String(254), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    # argon2id; None until a password is set (an invited staff member that has not accepted yet).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # servicekit.principal.ROLE_ADMIN or ROLE_TECHNICIAN; it is signed into every principal of the user's sessions.
    role: Mapped[str] = mapped_column(String(16), default="technician", server_default="technician")
    # Deactivated by an admin: cannot sign in, its sessions ended; reactivating lets it sign in again.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    # SPEC H5: the language this user reads (en, fr); "" until chosen (English).
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")


class PortalUser(Base):
    """A customer's login to the portal, for the customer itself or for one of its contacts (SPEC P1)."""

    __tablename__ = "portal_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # An email or a username; unique among portal users regardless of case.
    login: Mapped[str] = mapped_column(String(254))
    login_key: Mapped[str] = mapped_column(String(254), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True, default=None)
    group_id: Mapped[str] = mapped_column(ForeignKey("permission_groups.id"), index=True)
    # argon2id; None while an invitation to set the password is outstanding.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # SPEC P4: enrol in MFA at the next sign-in.
    require_mfa: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SPEC C3 "Enable portal user" turned off: the user stays (with its group) but cannot sign in.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    # SPEC P9 "admin override": a contact's user sees the whole customer (All) wherever its group lets it see.
    admin_override: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # SPEC H5: the language this user reads (en, fr); "" until chosen (the customer's default, else English).
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")
