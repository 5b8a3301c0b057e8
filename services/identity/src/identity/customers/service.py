"""Customers (SPEC C1, C3-C6): create, read, list, change, archive, delete; subsidiaries. Functions never commit;
the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import idempotency, validation
from identity.access import caller_scope, may_see_customer, require_staff
from identity.audit.service import record
from identity.contacts.models import Contact
from identity.custom_fields import service as custom_fields
from identity.custom_fields.models import CustomFieldValue
from identity.customers.holders import DataHolders, Holding, describe
from identity.customers.models import Customer
from identity.db import new_id, utcnow
from identity.events import publish
from identity.groups.models import PermissionGroup
from identity.groups.service import group_by_name
from identity.mfa.models import MfaFactor, RecoveryCode
from identity.passwords import service as passwords
from identity.passwords.models import PasswordToken
from identity.passwords.service import revoke_sessions
from identity.push.models import OutboundPush, PushPreference, PushSubscription
from identity.secrets import SecretBox
from identity.secure_links.models import SecureLink
from identity.sessions.models import UserSession
from identity.users import service as users
from identity.users.models import PortalUser
from servicekit.db import Database
from servicekit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from servicekit.pagination import keyset, keyset_cursor, page_size
from servicekit.permissions import PRIVACY_SETTINGS_MANAGE
from servicekit.principal import KIND_PORTAL_USER, KIND_SECURE_LINK, Principal, require

PHONE_TYPES = ("mobile", "work", "home", "fax", "other")
# Bill to, Ship to, Physical (SPEC C1).
ADDRESS_TYPES = ("billing", "shipping", "physical")
ADDRESS_PARTS = ("line1", "line2", "city", "region", "postal_code", "country")
MAX_PHONES = 10
MAX_ADDRESSES = 10
MAX_EXTRA_EMAILS = 20
MAX_NOTES = 10_000
MAX_WARNING = 1_000
# The depth of a parent chain, and how many customers one "All" scope may cover.
MAX_DEPTH = 20
MAX_FAMILY = 500
SETTING_FLAGS = (
    "tax_free",
    "remote_access_enabled",
    "sms_enabled",
    "receive_billing_emails",
    "receive_marketing_emails",
    "receive_report_emails",
    "no_email",
)
SETTING_LISTS = ("notification_emails", "invoice_cc_emails", "ticket_matching_emails")
SETTING_NUMBERS = ("tax_rate_bp", "invoice_terms_days")
SETTINGS = (*SETTING_NUMBERS, *SETTING_FLAGS, *SETTING_LISTS, "internal_ticket_warning")


@dataclass(frozen=True)
class PortalAccess:
    """SPEC C3 "Enable portal user": the customer's own portal user (login = the primary email)."""

    enabled: bool
    group_name: str = ""
    require_mfa: bool = False


@dataclass
class Details:
    """Everything about a customer beyond its names and email; None leaves a part as it is on update."""

    notes: str = ""
    phones: list[Mapping[str, str]] = field(default_factory=list)
    addresses: list[Mapping[str, str]] = field(default_factory=list)
    settings: Mapping[str, Any] | None = None
    portal_access: PortalAccess | None = None
    custom_fields: Mapping[str, str] | None = None
    parent_id: str = ""


def clean_phones(phones: list[Mapping[str, str]]) -> list[dict[str, str]]:
    if len(phones) > MAX_PHONES:
        raise InvalidArgument(f"at most {MAX_PHONES} phone numbers", field="phones")
    out = []
    for p in phones:
        kind = (p.get("type") or "mobile").strip().lower()
        if kind not in PHONE_TYPES:
            raise InvalidArgument(f"a phone's type is one of {', '.join(PHONE_TYPES)}", field="phones")
        number = validation.text(p.get("number", ""), field="phones", max_length=40, required=True, what="the number")
        if not any(ch.isdigit() for ch in number):
            raise InvalidArgument("a phone number has digits", field="phones")
        out.append({"type": kind, "number": number})
    return out


def clean_addresses(addresses: list[Mapping[str, str]]) -> list[dict[str, str]]:
    if len(addresses) > MAX_ADDRESSES:
        raise InvalidArgument(f"at most {MAX_ADDRESSES} addresses", field="addresses")
    out = []
    for a in addresses:
        kind = (a.get("type") or "billing").strip().lower()
        if kind not in ADDRESS_TYPES:
            raise InvalidArgument(f"an address's type is one of {', '.join(ADDRESS_TYPES)}", field="addresses")
        parts = {k: validation.text(a.get(k, ""), field="addresses") for k in ADDRESS_PARTS}
        if not any(parts.values()):
            raise InvalidArgument("an address needs at least one line", field="addresses")
        out.append({"type": kind, **parts})
    return out


def clean_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """SPEC C3's settings, checked; a missing one takes its default."""
    out: dict[str, Any] = {}
    rate = values.get("tax_rate_bp")
    if rate is not None and not 0 <= int(rate) <= 10_000:
        raise InvalidArgument("a tax rate is between 0 and 100 %", field="tax_rate_bp")
    out["tax_rate_bp"] = None if rate is None else int(rate)
    terms = values.get("invoice_terms_days")
    if terms is not None and not 0 <= int(terms) <= 365:
        raise InvalidArgument("invoice terms are 0 to 365 days", field="invoice_terms_days")
    out["invoice_terms_days"] = None if terms is None else int(terms)
    for name in SETTING_FLAGS:
        out[name] = bool(values.get(name, name.startswith("receive_")))
    for name in SETTING_LISTS:
        emails = values.get(name) or []
        if len(emails) > MAX_EXTRA_EMAILS:
            raise InvalidArgument(f"at most {MAX_EXTRA_EMAILS} addresses", field=name)
        cleaned: list[str] = []
        for e in emails:
            e = validation.email(e, field=name)
            if validation.key(e) not in {validation.key(c) for c in cleaned}:
                cleaned.append(e)
        out[name] = cleaned
    out["internal_ticket_warning"] = validation.text(
        values.get("internal_ticket_warning", ""), field="internal_ticket_warning", max_length=MAX_WARNING
    )
    return out


def settings_of(c: Customer) -> dict[str, Any]:
    return {name: getattr(c, name) for name in SETTINGS}


async def create_customer(
    s: AsyncSession,
    *,
    principal: Principal,
    business_name: str,
    first_name: str,
    last_name: str,
    email: str,
    idempotency_key: str = "",
    details: Details | None = None,
) -> Customer:
    """Create a customer (staff only) and publish CustomerCreated; a repeated idempotency key returns the first.
    Its portal user, when `details` enables one, is made by `set_portal_access` afterwards."""
    require_staff(principal)
    scope = caller_scope("create_customer", principal)
    key = idempotency.check_key(idempotency_key)
    if (earlier := await idempotency.earlier_result(s, scope=scope, key=key)) is not None:
        return await _load(s, earlier)

    details = details or Details()
    business_name, first_name, last_name = _names(business_name, first_name, last_name)
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
        **clean_settings(details.settings or {}),
    )
    _apply_details(customer, details)
    if details.parent_id:
        customer.parent_id = await _check_parent(s, customer_id=customer_id, parent_id=details.parent_id)
    s.add(customer)
    await s.flush()
    if details.custom_fields:
        await custom_fields.set_answers(s, customer_id=customer.id, answers=details.custom_fields)
    await publish.customer_created(s, customer)
    await publish.customer_updated(s, customer)
    return customer


def _names(business_name: str, first_name: str, last_name: str) -> tuple[str, str, str]:
    business_name = validation.text(business_name, field="business_name")
    first_name = validation.text(first_name, field="first_name")
    last_name = validation.text(last_name, field="last_name")
    if not (business_name or first_name or last_name):
        raise InvalidArgument("enter a business name, or a first or last name", field="business_name")
    return business_name, first_name, last_name


def _apply_details(customer: Customer, details: Details) -> None:
    customer.notes = validation.text(details.notes, field="notes", max_length=MAX_NOTES)
    customer.phones = clean_phones(details.phones)
    customer.addresses = clean_addresses(details.addresses)


async def _check_parent(s: AsyncSession, *, customer_id: str, parent_id: str) -> str | None:
    """The parent to set, refusing an unknown one and any that would make the customer its own ancestor."""
    if not parent_id:
        return None
    if parent_id == customer_id:
        raise InvalidArgument("a customer cannot be its own parent", field="parent_id")
    if len(parent_id) > 36 or await s.get(Customer, parent_id) is None:
        raise NotFound("no such parent customer", field="parent_id")
    current: str | None = parent_id
    for _ in range(MAX_DEPTH):
        current = await s.scalar(select(Customer.parent_id).where(Customer.id == current))
        if current is None:
            return parent_id
        if current == customer_id:
            raise InvalidArgument("this parent is one of the customer's own subsidiaries", field="parent_id")
    raise InvalidArgument(f"parent organisations nest at most {MAX_DEPTH} deep", field="parent_id")


async def update_customer(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    business_name: str,
    first_name: str,
    last_name: str,
    email: str,
    details: Details,
) -> Customer:
    """Replace a customer's names, email, notes, phones, addresses, parent and (when given) settings and custom
    field answers (staff only); publishes CustomerUpdated."""
    require_staff(principal)
    customer = await _load_checked(s, customer_id)
    business_name, first_name, last_name = _names(business_name, first_name, last_name)
    email = validation.email(email)
    email_key = validation.key(email)
    taken = await s.scalar(select(Customer.id).where(Customer.email_key == email_key, Customer.id != customer.id))
    if taken is not None:
        raise AlreadyExists("another customer already has this email address", field="email")
    customer.business_name, customer.first_name, customer.last_name = business_name, first_name, last_name
    customer.email, customer.email_key = email, email_key
    _apply_details(customer, details)
    if details.settings is not None:
        for name, value in clean_settings(details.settings).items():
            setattr(customer, name, value)
    customer.parent_id = await _check_parent(s, customer_id=customer.id, parent_id=details.parent_id)
    if details.custom_fields is not None:
        await custom_fields.set_answers(s, customer_id=customer.id, answers=details.custom_fields)
    await s.flush()
    await record(
        s, kind="customer_changed", subject=f"customer:{customer.id}", at=utcnow(), detail={"by": principal.subject_id}
    )
    await publish.customer_updated(s, customer)
    return customer


async def _load_checked(s: AsyncSession, customer_id: str) -> Customer:
    customer = await s.get(Customer, customer_id) if customer_id and len(customer_id) <= 36 else None
    if customer is None:
        raise NotFound("no such customer", field="customer_id")
    return customer


async def own_portal_user(s: AsyncSession, customer: Customer) -> PortalUser | None:
    """The customer's own portal user (not a contact's): the one whose login is its email, else the oldest."""
    rows = (
        await s.scalars(
            select(PortalUser)
            .where(PortalUser.customer_id == customer.id, PortalUser.contact_id.is_(None))
            .order_by(PortalUser.created_at, PortalUser.id)
        )
    ).all()
    return next((u for u in rows if u.login_key == customer.email_key), rows[0] if rows else None)


async def portal_access(s: AsyncSession, customer: Customer) -> tuple[PortalAccess, PortalUser | None]:
    user = await own_portal_user(s, customer)
    if user is None:
        return PortalAccess(enabled=False), None
    group_name = await s.scalar(select(PermissionGroup.name).where(PermissionGroup.id == user.group_id))
    return PortalAccess(
        enabled=user.disabled_at is None, group_name=group_name or "", require_mfa=user.require_mfa
    ), user


async def set_portal_access(
    s: AsyncSession, *, principal: Principal, customer: Customer, access: PortalAccess
) -> PortalUser | None:
    """Enable (creating the user, to be invited, or re-enabling it; group and Require MFA applied) or disable the
    customer's own portal user (its sessions end). Returns a user that was just created and needs an invitation."""
    require_staff(principal)
    user = await own_portal_user(s, customer)
    now = utcnow()
    if not access.enabled:
        if user is not None and user.disabled_at is None:
            user.disabled_at = now
            await revoke_sessions(s, user_kind=KIND_PORTAL_USER, user_id=user.id, now=now, reason="user")
            await record(
                s,
                kind="portal_user_disabled",
                subject=f"portal_user:{user.id}",
                at=now,
                detail={"by": principal.subject_id},
            )
        return None
    if user is None:
        if await users.login_taken(s, customer.email):
            raise AlreadyExists("a portal user already signs in with this customer's email", field="portal_access")
        created, _ = await users.create_portal_user(
            s,
            principal=principal,
            customer_id=customer.id,
            contact_id="",
            login=customer.email,
            email=customer.email,
            password="",
            group_name=access.group_name,
            require_mfa=access.require_mfa,
        )
        return created
    group = await group_by_name(s, name=access.group_name)
    if group.id != user.group_id:
        await users.set_portal_user_group(s, principal=principal, portal_user_id=user.id, group_name=group.name)
    user.require_mfa = access.require_mfa
    if user.disabled_at is not None:
        user.disabled_at = None
        await record(
            s, kind="portal_user_enabled", subject=f"portal_user:{user.id}", at=now, detail={"by": principal.subject_id}
        )
    return None


async def invite_new_customer(
    s: AsyncSession,
    *,
    principal: Principal,
    customer: Customer,
    access: PortalAccess | None,
    portal_url: str,
    box: SecretBox | None = None,
) -> None:
    """What creating a customer sets up besides it: its own portal user when `access` enables one, invited (SPEC
    C3, P2); else, with "always invite new customers" on, a portal user for its email, invited. A replayed create
    (its portal user already there) adds nothing."""
    if access is not None and not await own_portal_user(s, customer):
        await update_portal_access(
            s, principal=principal, customer=customer, access=access, portal_url=portal_url, box=box
        )
    else:
        await passwords.invite_if_always(
            s,
            principal=principal,
            customer_id=customer.id,
            contact_id="",
            email=customer.email,
            portal_url=portal_url,
            box=box,
        )


async def update_portal_access(
    s: AsyncSession,
    *,
    principal: Principal,
    customer: Customer,
    access: PortalAccess,
    portal_url: str,
    box: SecretBox | None = None,
) -> None:
    """`set_portal_access`, and a portal user it had to create is invited (unless the customer wants no email)."""
    created = await set_portal_access(s, principal=principal, customer=customer, access=access)
    if created is not None:
        await passwords.invite(s, user=created, portal_url=portal_url, box=box)


async def subsidiaries(s: AsyncSession, customer_id: str) -> list[Customer]:
    """The customer's direct subsidiaries, oldest first."""
    return list(
        (
            await s.scalars(
                select(Customer).where(Customer.parent_id == customer_id).order_by(Customer.created_at, Customer.id)
            )
        ).all()
    )


async def family(s: AsyncSession, customer_id: str) -> tuple[str, ...]:
    """The customer and all its subsidiaries, at any depth: what a portal user's "All" covers (SPEC P5, C6)."""
    found = [customer_id]
    frontier = [customer_id]
    for _ in range(MAX_DEPTH):
        if not frontier or len(found) >= MAX_FAMILY:
            break
        children = (await s.scalars(select(Customer.id).where(Customer.parent_id.in_(frontier)))).all()
        frontier = [c for c in children if c not in found][: MAX_FAMILY - len(found)]
        found += frontier
    return tuple(found)


async def local_holders(s: AsyncSession, customer_id: str) -> list[tuple[str, int]]:
    """What identity holds that stops a delete: subsidiaries (contacts and portal users go with the customer)."""
    n = await s.scalar(select(func.count()).select_from(Customer).where(Customer.parent_id == customer_id))
    return [("subsidiaries", int(n))] if n else []


async def holdings(db: Database, holders: DataHolders, *, principal: Principal, customer_id: str) -> list[Holding]:
    """What identity and every other service hold for the customer (staff only); the network part runs between
    units of work, as a transaction held across it would stall the process's one SQLite connection."""
    require_staff(principal)
    async with db.unit_of_work() as s:
        customer = await get_customer(s, principal=principal, customer_id=_required_id(customer_id))
        local = [Holding("identity", k, n) for k, n in await local_holders(s, customer.id)]
    return local + await holders.ask(customer.id)


async def delete_unheld_customer(db: Database, holders: DataHolders, *, principal: Principal, customer_id: str) -> None:
    """Delete the customer once no service holds data for it; else refused, naming what is held."""
    held = await holdings(db, holders, principal=principal, customer_id=customer_id)
    if held:
        raise FailedPrecondition(
            f"this customer cannot be deleted while data is held for it: {describe(held)}; archive it instead"
        )
    async with db.unit_of_work() as s:
        await delete_customer(s, principal=principal, customer_id=customer_id)


def _required_id(customer_id: str) -> str:
    """A customer id from a request: required (staff calls have no customer of their own to default to)."""
    if not customer_id:
        raise InvalidArgument("enter a customer id", field="customer_id")
    return customer_id


async def delete_customer(s: AsyncSession, *, principal: Principal, customer_id: str) -> None:
    """Delete the customer with its contacts, portal users (their sessions, MFA and links) and custom field answers
    (staff only). The caller has asked every other service first; identity refuses while subsidiaries exist."""
    require_staff(principal)
    customer = await _load_checked(s, customer_id)
    if await local_holders(s, customer.id):
        raise FailedPrecondition("this customer has subsidiaries; move or delete them first", field="customer_id")
    user_ids = list((await s.scalars(select(PortalUser.id).where(PortalUser.customer_id == customer.id))).all())
    if user_ids:
        await s.execute(delete(PasswordToken).where(PasswordToken.user_id.in_(user_ids)))
        await s.execute(delete(RecoveryCode).where(RecoveryCode.user_id.in_(user_ids)))
        await s.execute(delete(MfaFactor).where(MfaFactor.user_id.in_(user_ids)))
        await s.execute(delete(PushPreference).where(PushPreference.portal_user_id.in_(user_ids)))
        await s.execute(delete(PushSubscription).where(PushSubscription.portal_user_id.in_(user_ids)))
        await s.execute(
            delete(UserSession).where(UserSession.user_kind == KIND_PORTAL_USER, UserSession.user_id.in_(user_ids))
        )
        await s.execute(delete(PortalUser).where(PortalUser.id.in_(user_ids)))
    await s.execute(delete(CustomFieldValue).where(CustomFieldValue.customer_id == customer.id))
    await s.execute(delete(OutboundPush).where(OutboundPush.customer_id == customer.id))
    links = select(SecureLink.id).where(SecureLink.customer_id == customer.id).scalar_subquery()
    await s.execute(
        delete(UserSession).where(UserSession.user_kind == KIND_SECURE_LINK, UserSession.user_id.in_(links))
    )
    await s.execute(delete(SecureLink).where(SecureLink.customer_id == customer.id))
    await s.execute(delete(Contact).where(Contact.customer_id == customer.id))
    await s.execute(update(Customer).where(Customer.parent_id == customer.id).values(parent_id=None))
    await s.delete(customer)
    await s.flush()
    await record(
        s,
        kind="customer_deleted",
        subject=f"customer:{customer_id}",
        at=utcnow(),
        detail={"by": principal.subject_id, "name": customer.display_name, "portal_users": len(user_ids)},
    )
    await publish.customer_deleted(s, customer_id)


async def get_customer(s: AsyncSession, *, principal: Principal, customer_id: str) -> Customer:
    """One customer: staff any, a portal user only its own (another id is NOT_FOUND); '' means the caller's own."""
    customer_id = customer_id or ("" if principal.is_staff else principal.customer_id)
    if not customer_id:
        raise InvalidArgument("enter a customer id", field="customer_id")
    if not may_see_customer(principal, customer_id):
        raise NotFound("no such customer", field="customer_id")
    return await _load(s, customer_id)


SEARCH_MAX = 200


async def list_customers(
    s: AsyncSession, *, principal: Principal, size: int = 0, cursor: str = "", parent_id: str = "", query_text: str = ""
) -> tuple[list[Customer], str]:
    """Customers (only `parent_id`'s subsidiaries, when given; only those whose business name, first and last name
    or email hold every word of `query_text`, when given) oldest first by (created_at, id), one keyset page;
    returns the page and the next cursor."""
    require_staff(principal)
    limit = page_size(size)
    if len(query_text) > SEARCH_MAX:
        raise InvalidArgument(f"a search has at most {SEARCH_MAX} characters", field="query")
    query = select(Customer).order_by(Customer.created_at, Customer.id).limit(limit + 1)
    if parent_id:
        query = query.where(Customer.parent_id == parent_id)
    for word in query_text.lower().split()[:10]:
        # A word is matched literally: LIKE's wildcards in it are escaped.
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Customer.business_name, Customer.first_name, Customer.last_name, Customer.email)
                )
            )
        )
    after = keyset(cursor)
    if after is not None:
        created_at, last_id = after
        query = query.where(
            or_(Customer.created_at > created_at, and_(Customer.created_at == created_at, Customer.id > last_id))
        )
    rows = list((await s.scalars(query)).all())
    next_cursor = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = keyset_cursor(rows[-1].created_at, rows[-1].id)
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
            await revoke_sessions(s, user_kind=KIND_PORTAL_USER, user_id=user_id, now=now, reason="customer")
    elif not archived:
        customer.archived_at = None
    await publish.customer_updated(s, customer)
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
        # A parent organisation's "All" view reaches its subsidiaries' records, not their preferences.
        if customer_id and customer_id != principal.customer_id:
            raise NotFound("no such customer", field="customer_id")
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
