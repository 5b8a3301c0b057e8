"""Per-customer billing settings and number sequences. Functions never commit."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers.models import DEFAULT_TERMS_DAYS, Counter, CustomerBilling
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import Principal

MAX_TAX_BP = 10_000
MAX_TERMS_DAYS = 365


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff may do this")


async def settings_for(session: AsyncSession, customer_id: str) -> CustomerBilling:
    """The customer's settings, or the defaults (no tax, 30-day terms) when staff never set them."""
    row = await session.get(CustomerBilling, customer_id)
    return row or CustomerBilling(customer_id=customer_id, tax_rate_bp=0, tax_free=False, terms_days=DEFAULT_TERMS_DAYS)


async def set_settings(
    session: AsyncSession, *, principal: Principal, customer_id: str, tax_rate_bp: int, tax_free: bool, terms_days: int
) -> CustomerBilling:
    """Staff set a customer's tax rate (or tax-free) and default terms."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    if not 0 <= tax_rate_bp <= MAX_TAX_BP:
        raise InvalidArgument("the tax rate must be between 0 and 100 %", field="tax_rate_bp")
    if not 0 <= terms_days <= MAX_TERMS_DAYS:
        raise InvalidArgument(f"terms must be between 0 and {MAX_TERMS_DAYS} days", field="terms_days")
    row = await session.get(CustomerBilling, customer_id)
    if row is None:
        row = CustomerBilling(customer_id=customer_id)
        session.add(row)
    row.tax_rate_bp, row.tax_free, row.terms_days = tax_rate_bp, tax_free, terms_days
    await session.flush()
    return row


async def next_number(session: AsyncSession, name: str) -> int:
    """The next value of a sequence; the row update serialises concurrent callers on every database."""
    for _ in range(3):
        value = await session.scalar(
            update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
        )
        if value is not None:
            return value
        try:
            async with session.begin_nested():
                session.add(Counter(name=name, value=1000))
            return 1000
        except IntegrityError:
            continue
    return await session.scalar(select(Counter.value).where(Counter.name == name))  # pragma: no cover
