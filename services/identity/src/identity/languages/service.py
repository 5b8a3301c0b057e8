"""SPEC H5: the language each user reads, kept on the user (portal_users.language, staff_users.language), and a
customer's default for its users who have not chosen one. Pages, emails and PDFs ask `language_of`/`for_email`;
"" on a row means "not chosen"."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.customers.models import Customer
from identity.events import publish
from identity.users.models import PortalUser, StaffUser
from servicekit.errors import InvalidArgument, NotFound
from servicekit.i18n import DEFAULT_LANGUAGE, LANGUAGES
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

NOT_SPOKEN = f"choose one of the portal's languages: {', '.join(LANGUAGES)}"


def _checked(language: str, *, allow_empty: bool) -> str:
    value = (language or "").strip().lower()
    if value in LANGUAGES or (allow_empty and value == ""):
        return value
    raise InvalidArgument(NOT_SPOKEN, field="language")


def resolved(user_language: str, customer_language: str = "") -> str:
    """The user's own choice, else its customer's default, else English."""
    for value in (user_language, customer_language):
        if value in LANGUAGES:
            return value
    return DEFAULT_LANGUAGE


async def set_my_language(s: AsyncSession, *, principal: Principal, language: str) -> str:
    """Keep `language` on the signed-in portal or staff user ("" clears it: the customer's default, else the
    browser's); a secure link is nobody: it keeps nothing."""
    language = _checked(language, allow_empty=True)
    if principal.kind == KIND_STAFF:
        user = await s.get(StaffUser, principal.subject_id)
    elif principal.kind == KIND_PORTAL_USER:
        user = await s.get(PortalUser, principal.subject_id)
    else:
        return language
    if user is not None:
        user.language = language
        # The gateways keep the resolved session (and its language) for minutes: drop it, so the next page is in the
        # chosen language on every replica.
        await publish.sessions_changed(s, "language", user_ids=[user.id])
    return language


async def set_customer_language(s: AsyncSession, *, principal: Principal, customer_id: str, language: str) -> str:
    require_staff(principal)
    language = _checked(language, allow_empty=True)
    customer = await s.get(Customer, customer_id) if customer_id and len(customer_id) <= 36 else None
    if customer is None:
        raise NotFound("no such customer", field="customer_id")
    customer.language = language
    await publish.sessions_changed(s, "language", customer_ids=[customer.id])
    return language


async def language_of_principal(s: AsyncSession, principal: Principal) -> str:
    """The language kept for the principal: its own choice, else its customer's default; "" when neither is set
    (the gateway then follows the browser's cookie or Accept-Language)."""
    chosen, default = "", ""
    if principal.kind == KIND_STAFF:
        staff = await s.get(StaffUser, principal.subject_id)
        chosen = staff.language if staff else ""
    elif principal.kind == KIND_PORTAL_USER:
        user = await s.get(PortalUser, principal.subject_id)
        chosen = user.language if user else ""
    if principal.customer_id and principal.kind != KIND_STAFF:
        customer = await s.get(Customer, principal.customer_id)
        default = customer.language if customer else ""
    return next((v for v in (chosen, default) if v in LANGUAGES), "")


async def chosen_for_email(s: AsyncSession, email: str, customer: Customer | None) -> str:
    """The language chosen for `email`: the customer's portal user with that address (its own choice), else the
    customer's default; "" when neither is set. An address that is no user (a CC address) reads the default."""
    if email and customer is not None:
        chosen = await s.scalar(
            select(PortalUser.language)
            .where(
                PortalUser.customer_id == customer.id,
                func.lower(PortalUser.email) == email.strip().lower(),
                PortalUser.language != "",
            )
            .order_by(PortalUser.created_at)
            .limit(1)
        )
        if chosen in LANGUAGES:
            return chosen
    language = customer.language if customer is not None else ""
    return language if language in LANGUAGES else ""
