"""Customers: create, read, list. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity import events, idempotency, validation
from identity.access import caller_scope, may_see_customer, require_staff
from identity.audit.service import record
from identity.credentials.service import revoke_sessions
from identity.customers.models import Customer
from identity.db import new_id, utcnow
from identity.users.models import PortalUser
from servicekit.errors import AlreadyExists, InvalidArgument, NotFound
from servicekit.pagination import decode_cursor, encode_cursor, page_size
from servicekit.permissions import PRIVACY_SETTINGS_MANAGE
from servicekit.principal import KIND_PORTAL_USER, Principal, require


async def create_customer(
    s: AsyncSession,
    *,
    principal: Principal,
    business_name: str,
    first_name: str,
    last_name: str,
    email: str,
    idempotency_key: str = "",
) -> Customer:
    """Create a customer (staff only) and publish CustomerCreated; a repeated idempotency key returns the first."""
    require_staff(principal)
    scope = caller_scope("create_customer", principal)
    key = idempotency.check_key(idempotency_key)
    if (earlier := await idempotency.earlier_result(s, scope=scope, key=key)) is not None:
        return await _load(s, earlier)

    business_name = validation.text(business_name, field="business_name")
    first_name = validation.text(first_name, field="first_name")
    last_name = validation.text(last_name, field="last_name")
    if not (business_name or first_name or last_name):
        raise InvalidArgument("enter a business name, or a first or last name", field="business_name")
    email = validation.email(email)
    email_key = validation.key(email)
    customer_id = new_id()
    await idempotency.claim(s, scope=scope, key=key, resource_id=customer_id)
    if await s.scalar(select(Customer.id).where(Customer.email_key == email_key)) is not None:
        raise AlreadyExists("another customer already has this email address", field="email")

    customer = Customer(
        id=customer_id,
        business_name=business_name,
        first_name=first_name,
        last_name=last_name,
        email=email,
        email_key=email_key,
    )
    s.add(customer)
    await s.flush()
    await events.customer_created(s, customer)
    return customer


async def get_customer(s: AsyncSession, *, principal: Principal, customer_id: str) -> Customer:
    """One customer: staff any, a portal user only its own (another id is NOT_FOUND); '' means the caller's own."""
    customer_id = customer_id or ("" if principal.is_staff else principal.customer_id)
    if not customer_id:
        raise InvalidArgument("enter a customer id", field="customer_id")
    if not may_see_customer(principal, customer_id):
        raise NotFound("no such customer", field="customer_id")
    return await _load(s, customer_id)


async def list_customers(
    s: AsyncSession, *, principal: Principal, size: int = 0, cursor: str = ""
) -> tuple[list[Customer], str]:
    """Customers oldest first by (created_at, id), one keyset page; returns the page and the next cursor."""
    require_staff(principal)
    limit = page_size(size)
    query = select(Customer).order_by(Customer.created_at, Customer.id).limit(limit + 1)
    after = decode_cursor(cursor, 2)
    if after is not None:
        try:
            created_at, last_id = datetime.fromisoformat(after[0]), str(after[1])
        except (TypeError, ValueError):
            raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor") from None
        if created_at.tzinfo is None:
            raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor")
        query = query.where(
            or_(Customer.created_at > created_at, and_(Customer.created_at == created_at, Customer.id > last_id))
        )
    rows = list((await s.scalars(query)).all())
    next_cursor = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id)
    return rows, next_cursor


async def _load(s: AsyncSession, customer_id: str) -> Customer:
    customer = await s.get(Customer, customer_id)
    if customer is None:
        raise NotFound("no such customer", field="customer_id")
    return customer


async def set_archived(s: AsyncSession, *, principal: Principal, customer_id: str, archived: bool) -> Customer:
    """Archive or re-enable a customer (staff only); archiving ends its portal users' sessions (SPEC C5)."""
    require_staff(principal)
    customer = await _load(s, customer_id) if customer_id and len(customer_id) <= 36 else None
    if customer is None:
        raise NotFound("no such customer", field="customer_id")
    now = utcnow()
    if archived and customer.archived_at is None:
        customer.archived_at = now
        user_ids = (await s.scalars(select(PortalUser.id).where(PortalUser.customer_id == customer.id))).all()
        for user_id in user_ids:
            await revoke_sessions(s, user_kind=KIND_PORTAL_USER, user_id=user_id, now=now)
    elif not archived:
        customer.archived_at = None
    await record(
        s,
        kind="customer_archived" if archived else "customer_restored",
        subject=f"customer:{customer.id}",
        at=now,
        detail={"by": principal.subject_id},
    )
    return customer


PRIVACY_FIELDS = ("receive_billing_emails", "receive_marketing_emails", "receive_report_emails")


async def privacy_customer(s: AsyncSession, *, principal: Principal, customer_id: str) -> Customer:
    """The customer whose communication preferences the caller may read and change (SPEC P10): staff any, a
    portal user its own with Privacy Settings - Manage ('' = own; another id is NOT_FOUND)."""
    if not principal.is_staff:
        require(principal, PRIVACY_SETTINGS_MANAGE)
    return await get_customer(s, principal=principal, customer_id=customer_id)


async def set_privacy(s: AsyncSession, *, principal: Principal, customer_id: str, values: dict[str, bool]) -> Customer:
    customer = await privacy_customer(s, principal=principal, customer_id=customer_id)
    for name in PRIVACY_FIELDS:
        setattr(customer, name, bool(values[name]))
    await record(
        s,
        kind="privacy_changed",
        subject=f"customer:{customer.id}",
        at=utcnow(),
        detail={"by": principal.subject_id, **{name: bool(values[name]) for name in PRIVACY_FIELDS}},
    )
    return customer
