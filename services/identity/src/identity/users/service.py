"""Staff users and portal users. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity import validation
from identity.access import require_staff
from identity.audit import models as audit_kinds
from identity.audit.service import record
from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.db import utcnow
from identity.events import publish
from identity.groups.models import PermissionGroup
from identity.groups.service import group_by_name
from identity.mfa.models import MfaFactor
from identity.users.hashing import hash_password
from identity.users.models import PortalUser, StaffUser
from servicekit.errors import AlreadyExists, InvalidArgument, NotFound
from servicekit.principal import KIND_PORTAL_USER, ROLE_ADMIN, ROLE_TECHNICIAN, Principal


@dataclass(frozen=True)
class Account:
    """What sign-in needs to know about a user, whichever kind."""

    kind: str
    id: str
    password_hash: str | None


async def find_account(s: AsyncSession, *, kind: str, login: str) -> Account | None:
    """The portal or staff user with this login (case-insensitive), or None."""
    model = PortalUser if kind == KIND_PORTAL_USER else StaffUser
    row = (
        await s.execute(select(model.id, model.password_hash).where(model.login_key == validation.key(login)))
    ).first()
    return Account(kind=kind, id=row.id, password_hash=row.password_hash) if row else None


async def set_password_hash(s: AsyncSession, *, account: Account, password_hash: str) -> None:
    """Store a new hash (after a rehash with stronger parameters)."""
    model = PortalUser if account.kind == KIND_PORTAL_USER else StaffUser
    user = await s.get(model, account.id)
    if user is not None:
        user.password_hash = password_hash


async def create_portal_user(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    contact_id: str,
    login: str,
    email: str,
    password: str,
    group_name: str = "",
    require_mfa: bool = False,
) -> tuple[PortalUser, PermissionGroup]:
    """A portal login for a customer or one of its contacts (staff only); the login defaults to the email.
    Without a password the user cannot sign in until it accepts an invitation."""
    require_staff(principal)
    if not customer_id or await s.get(Customer, customer_id) is None:
        raise NotFound("no such customer", field="customer_id")
    if contact_id:
        contact = await s.get(Contact, contact_id)
        if contact is None or contact.customer_id != customer_id:
            raise NotFound("this customer has no such contact", field="contact_id")
    email = validation.email(email)
    login = validation.login(login or email)
    if password:
        validation.new_password(password)
    group = await group_by_name(s, name=group_name)
    login_key = validation.key(login)
    if await s.scalar(select(PortalUser.id).where(PortalUser.login_key == login_key)) is not None:
        raise AlreadyExists("another portal user already has this login", field="login")

    user = PortalUser(
        login=login,
        login_key=login_key,
        email=email,
        customer_id=customer_id,
        contact_id=contact_id or None,
        group_id=group.id,
        # No password: the user sets one through an invitation.
        password_hash=await hash_password(password) if password else None,
        require_mfa=require_mfa,
    )
    s.add(user)
    await s.flush()
    return user, group


async def create_staff_user(
    s: AsyncSession, *, email: str, password: str, name: str = "", login: str = "", role: str = ROLE_TECHNICIAN
) -> StaffUser:
    """A staff user with a password (the bootstrap admin, seeds, tests); the login defaults to the email. Staff
    that admins add are invited instead (identity.staff)."""
    email = validation.email(email)
    login = validation.login(login or email)
    login_key = validation.key(login)
    if await s.scalar(select(StaffUser.id).where(StaffUser.login_key == login_key)) is not None:
        raise AlreadyExists("another staff user already has this login", field="login")
    user = StaffUser(
        login=login,
        login_key=login_key,
        email=email,
        name=validation.text(name, field="name") or email.split("@", 1)[0],
        password_hash=await hash_password(password),
        role=role,
    )
    s.add(user)
    await s.flush()
    return user


async def ensure_bootstrap_staff(s: AsyncSession, *, email: str, password: str) -> StaffUser | None:
    """Create the first staff user when there is none yet; returns it, or None when staff already exist."""
    if await s.scalar(select(func.count()).select_from(StaffUser)):
        return None
    return await create_staff_user(s, email=email, password=password, name="Administrator", role=ROLE_ADMIN)


async def set_portal_user_group(
    s: AsyncSession, *, principal: Principal, portal_user_id: str, group_name: str, address: str = ""
) -> tuple[PortalUser, PermissionGroup]:
    """Move a portal user to another group (staff only)."""
    require_staff(principal)
    user = await s.get(PortalUser, portal_user_id) if portal_user_id and len(portal_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such portal user", field="portal_user_id")
    if not group_name.strip():
        raise InvalidArgument("choose a permission group", field="group_name")
    group = await group_by_name(s, name=group_name)
    previous = user.group_id
    user.group_id = group.id
    await s.flush()
    await publish.sessions_changed(s, "group", user_ids=[user.id])
    await record(
        s,
        kind=audit_kinds.USER_GROUP_CHANGED,
        subject=f"portal_user:{user.id}",
        address=address,
        at=utcnow(),
        detail={"by": principal.subject_id, "from": previous, "to": group.id},
    )
    return user, group


async def portal_user(s: AsyncSession, *, principal: Principal, portal_user_id: str) -> PortalUser:
    """A portal user by id (staff only)."""
    require_staff(principal)
    user = await s.get(PortalUser, portal_user_id) if portal_user_id and len(portal_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such portal user", field="portal_user_id")
    return user


async def login_taken(s: AsyncSession, login: str) -> bool:
    return await s.scalar(select(PortalUser.id).where(PortalUser.login_key == validation.key(login))) is not None


async def list_portal_users(
    s: AsyncSession, *, principal: Principal, customer_id: str
) -> list[tuple[PortalUser, PermissionGroup | None, bool]]:
    """A customer's portal users oldest first, each with its group and whether an authenticator is confirmed
    (staff only; an unknown customer is NOT_FOUND)."""
    require_staff(principal)
    if not customer_id or len(customer_id) > 36 or await s.get(Customer, customer_id) is None:
        raise NotFound("no such customer", field="customer_id")
    rows = (
        await s.execute(
            select(PortalUser, PermissionGroup, MfaFactor.confirmed_at)
            .outerjoin(PermissionGroup, PermissionGroup.id == PortalUser.group_id)
            .outerjoin(MfaFactor, MfaFactor.user_id == PortalUser.id)
            .where(PortalUser.customer_id == customer_id)
            .order_by(PortalUser.created_at, PortalUser.id)
        )
    ).all()
    return [(user, group, confirmed is not None) for user, group, confirmed in rows]
