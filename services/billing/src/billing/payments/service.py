"""Payments (SPEC B5, B7) and stored payment profiles (B2). Functions never commit.

A payment is taken in three steps so that no network call happens inside a transaction:

1. `begin_payment` (one unit of work) validates the request against the invoices' balances and inserts a
   *pending* payment. (customer_id, idempotency_key) is unique, so of any number of concurrent submissions of
   one key, on any number of replicas, exactly one inserts; the others find that row and continue with it.
2. The caller charges the processor with the payment's id as the processor's idempotency key: every replica
   and every retry of the key asks for the same charge, and the processor makes it once.
3. `finish_payment` (another unit of work) records the outcome with a conditional update from pending, so only
   one caller applies it to the invoices and writes its events. A processor timeout leaves the payment pending;
   a retry with the same key charges with the same processor key and finishes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from billing.credit.models import CreditEntry
from billing.customers.models import CustomerBilling
from billing.db import utcnow
from billing.events import publish
from billing.invoices.models import OPEN, PAID, Invoice
from billing.invoices.service import (
    AllocationInput,
    escape_like,
    open_payable_invoices,
    payable_invoices,
    payer_customers,
)
from billing.payments.models import FAILED, PENDING, SUCCEEDED, VOIDED, Payment, PaymentAllocation, PaymentProfile
from billing.payments.processor import Charge, TokenDetails
from servicekit import permissions as perm
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.money import MAX_MINOR, TOO_LARGE
from servicekit.pagination import keyset, keyset_cursor
from servicekit.principal import Principal, require, visibility

MAX_KEY = 100
MAX_NICKNAME = 60


@dataclass(frozen=True)
class Begun:
    payment: Payment
    replayed: bool


async def propose_allocation(
    session: AsyncSession, *, principal: Principal, amount_minor: int
) -> tuple[list[tuple[Invoice, int]], int]:
    """Spread an amount over the open invoices, oldest first; what is left over is returned apart."""
    require(principal, perm.INVOICES_PAY_ONLINE)
    if amount_minor < 0:
        raise InvalidArgument("the amount cannot be negative", field="amount")
    if amount_minor > MAX_MINOR:
        raise InvalidArgument(TOO_LARGE, field="amount")
    left, proposal = amount_minor, []
    for invoice in await open_payable_invoices(session, principal):
        share = min(left, invoice.balance_minor)
        proposal.append((invoice, share))
        left -= share
    return proposal, left


def request_digest(allocations: list[AllocationInput], profile_id: str, processor_token: str) -> str:
    body = json.dumps(
        {"a": [[a.invoice_id, a.amount_minor] for a in allocations], "p": profile_id, "t": processor_token},
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def _existing(session: AsyncSession, customer_id: str, key: str) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .where(Payment.customer_id == customer_id, Payment.idempotency_key == key)
        .options(selectinload(Payment.allocations))
        .execution_options(populate_existing=True)
    )


async def begin_payment(
    session: AsyncSession,
    *,
    principal: Principal,
    idempotency_key: str,
    allocations: list[AllocationInput],
    profile_id: str = "",
    processor_token: str = "",
    new_card: TokenDetails | None = None,
    overpayment_to_credit: bool = False,
    language: str = "",
) -> Begun:
    """Validate the payment and record it as pending, or find the payment this key already made. `language` is the
    payer's, kept on the payment so its receipt is in that language whoever finishes it (the request, a retry,
    a webhook or the reconciler).

    An amount above an invoice's balance due is refused, unless `overpayment_to_credit`: then the whole amount
    is charged and `finish_payment` keeps the excess as store credit in the transaction that applies it."""
    require(principal, perm.INVOICES_PAY_ONLINE)
    payer_customers(principal)
    customer_id = principal.customer_id
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidArgument(f"an idempotency key of 1 to {MAX_KEY} characters is required", field="idempotency_key")
    digest = request_digest(allocations, profile_id, processor_token)
    found = await _existing(session, customer_id, key)
    if found is not None:
        return _replay(found, digest)

    if bool(profile_id) == bool(processor_token):
        raise InvalidArgument("pay with either a stored profile or a new card token", field="payment_profile_id")
    try:
        invoices, currency = await payable_invoices(session, principal, allocations, overpayment=overpayment_to_credit)
    except (FailedPrecondition, InvalidArgument):
        # A twin with this key may have paid the balance meanwhile: its answer, not a refusal.
        found = await _existing(session, customer_id, key)
        if found is None:
            raise
        return _replay(found, digest)
    # Look again now that the invoices are locked: a twin that held the lock has committed its payment. Inserting
    # the key before looking could wait on a twin's finish, which waits on our lock (a deadlock on PostgreSQL).
    found = await _existing(session, customer_id, key)
    if found is not None:
        return _replay(found, digest)
    if not overpayment_to_credit:
        await _refuse_what_pending_payments_hold(session, invoices, allocations)

    if profile_id:
        profile = await session.scalar(
            select(PaymentProfile).where(
                PaymentProfile.id == profile_id, PaymentProfile.customer_id.in_(payer_customers(principal))
            )
        )
        if profile is None:
            raise NotFound("no such payment profile")
        token, method = profile.processor_token, f"{profile.brand} {profile.last4}"
    else:
        if new_card is None:
            raise InvalidArgument("the card token is not known to the processor", field="processor_token")
        token, method = processor_token, f"{new_card.brand} {new_card.last4}"

    payment = Payment(
        customer_id=customer_id,
        contact_id=principal.contact_id or None,
        idempotency_key=key,
        request_digest=digest,
        status=PENDING,
        currency=currency,
        amount_minor=sum(a.amount_minor for a in allocations),
        processor_token=token,
        method=method[:60],
        language=receipt_language(language),
    )
    payment.allocations = [
        PaymentAllocation(position=i, invoice_id=a.invoice_id, amount_minor=a.amount_minor)
        for i, a in enumerate(allocations, start=1)
    ]
    try:
        async with session.begin_nested():
            session.add(payment)
    except IntegrityError:
        # Another request (maybe on another replica) inserted this key first and has committed.
        found = await _existing(session, customer_id, key)
        if found is None:
            raise
        return _replay(found, digest)
    return Begun(payment, replayed=False)


async def _refuse_what_pending_payments_hold(
    session: AsyncSession, invoices: dict[str, Invoice], allocations: list[AllocationInput]
) -> None:
    """A payment still at the processor holds the amounts it allocated: a second payment (another tab, another
    user of the customer, another key) may pay only what the first leaves due, so the card is not charged twice
    for one balance. The invoices are locked by `payable_invoices`, so this holds across replicas."""
    held = dict(
        (
            await session.execute(
                select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount_minor))
                .join(Payment, Payment.id == PaymentAllocation.payment_id)
                .where(Payment.status == PENDING, PaymentAllocation.invoice_id.in_(list(invoices)))
                .group_by(PaymentAllocation.invoice_id)
            )
        ).all()
    )
    for a in allocations:
        invoice = invoices[a.invoice_id]
        holding = int(held.get(invoice.id, 0))
        if holding and a.amount_minor > invoice.balance_minor - holding:
            left = max(invoice.balance_minor - holding, 0)
            raise FailedPrecondition(
                f"a payment for {invoice.number} is already in progress; wait for it to finish"
                + (f" (it leaves {left // 100}.{left % 100:02d} {invoice.currency} to pay)" if left else "")
            )


def _replay(found: Payment, digest: str) -> Begun:
    if found.request_digest != digest:
        raise FailedPrecondition("this idempotency key was used for a different payment")
    return Begun(found, replayed=True)


CREDIT_METHOD = "store credit"


async def apply_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    idempotency_key: str,
    allocations: list[AllocationInput],
    language: str = "",
) -> Begun:
    """Pay invoices from store credit in one transaction: the customer's billing row is locked so two
    applications cannot both spend the same credit; the payment row makes the key idempotent. `language` is the
    payer's, for the receipt."""
    require(principal, perm.INVOICES_PAY_ONLINE)
    payer_customers(principal)
    customer_id = principal.customer_id
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidArgument(f"an idempotency key of 1 to {MAX_KEY} characters is required", field="idempotency_key")
    digest = request_digest(allocations, CREDIT_METHOD, "")
    # Lock first, then look for the key: a concurrent twin that held the lock has committed its payment by now.
    await _lock_customer(session, customer_id)
    found = await _existing(session, customer_id, key)
    if found is not None:
        return _replay(found, digest)
    invoices, currency = await payable_invoices(session, principal, allocations)
    await _refuse_what_pending_payments_hold(session, invoices, allocations)
    total = sum(a.amount_minor for a in allocations)
    available = await session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_minor), 0)).where(
            CreditEntry.customer_id == customer_id, CreditEntry.currency == currency
        )
    )
    if total > int(available or 0):
        raise FailedPrecondition("there is not enough store credit for this amount")
    payment = Payment(
        customer_id=customer_id,
        contact_id=principal.contact_id or None,
        idempotency_key=key,
        request_digest=digest,
        status=PENDING,
        currency=currency,
        amount_minor=total,
        processor_token="",
        method=CREDIT_METHOD,
        language=receipt_language(language),
    )
    payment.allocations = [
        PaymentAllocation(position=i, invoice_id=a.invoice_id, amount_minor=a.amount_minor)
        for i, a in enumerate(allocations, start=1)
    ]
    try:
        async with session.begin_nested():
            session.add(payment)
    except IntegrityError:
        found = await _existing(session, customer_id, key)
        if found is None:
            raise
        return _replay(found, digest)
    for a in allocations:
        session.add(
            CreditEntry(
                customer_id=customer_id,
                currency=currency,
                amount_minor=-a.amount_minor,
                reference=invoices[a.invoice_id].number,
                message="Applied to invoice",
                invoice_id=a.invoice_id,
                payment_id=payment.id,
                created_by=principal.subject_id,
            )
        )
    await session.flush()
    charge = Charge(id=f"credit-{payment.id}", succeeded=True, amount_minor=total, currency=currency)
    payment, _ = await finish_payment(session, payment_id=payment.id, charge=charge, language=language)
    return Begun(payment, replayed=False)


async def _lock_customer(session: AsyncSession, customer_id: str) -> None:
    """Serialise credit spending per customer on the customer's billing row (made when missing)."""
    row = await session.scalar(
        select(CustomerBilling).where(CustomerBilling.customer_id == customer_id).with_for_update()
    )
    if row is None:
        try:
            async with session.begin_nested():
                session.add(CustomerBilling(customer_id=customer_id))
        except IntegrityError:
            pass
        await session.scalar(
            select(CustomerBilling).where(CustomerBilling.customer_id == customer_id).with_for_update()
        )


RECEIPT_LANGUAGES = ("en", "fr")


def receipt_language(value: str) -> str:
    """A language the receipts are written in, or "" (English)."""
    return value if value in RECEIPT_LANGUAGES else ""


def processor_key(payment: Payment) -> str:
    """The key the processor deduplicates on: one per payment, the same on every replica and retry."""
    return f"portal-payment-{payment.id}"


async def finish_payment(
    session: AsyncSession, *, payment_id: str, charge: Charge, language: str = ""
) -> tuple[Payment, bool]:
    """Record the charge's outcome once; True when this call recorded it (and wrote the events). `language` is the
    payer's, for the receipt; "" takes the one kept on the payment when it began."""
    status = SUCCEEDED if charge.succeeded else FAILED
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == PENDING)
        .values(status=status, charge_id=charge.id, failure_reason=charge.failure_reason, completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    payment = await session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .options(selectinload(Payment.allocations))
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    if result.rowcount != 1:
        return payment, False
    invoice_ids = [a.invoice_id for a in payment.allocations]
    if not charge.succeeded:
        await publish.payment_failed(session, payment, failure_reason=charge.failure_reason)
        return payment, True

    # Lock the invoices in one order so that two payments touching the same invoices cannot deadlock.
    invoices = {
        inv.id: inv
        for inv in await session.scalars(
            select(Invoice)
            .where(Invoice.id.in_(sorted(invoice_ids)))
            .order_by(Invoice.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    excess = 0
    applied_amounts: list[int] = []
    for allocation in payment.allocations:
        invoice = invoices[allocation.invoice_id]
        applied = min(allocation.amount_minor, invoice.balance_minor)
        applied_amounts.append(applied)
        # The charge is made; what no longer fits the invoice becomes credit: an overpayment allowed by the
        # settings, or an invoice another payment settled between begin and finish. Never lost.
        excess += allocation.amount_minor - applied
        invoice.balance_minor -= applied
        if invoice.balance_minor == 0 and invoice.status == OPEN:
            invoice.status = PAID
            await publish.invoice_paid(session, invoice)
    if excess:
        session.add(
            CreditEntry(
                customer_id=payment.customer_id,
                currency=payment.currency,
                amount_minor=excess,
                reference=f"payment {payment.id[:8]}",
                message="Paid more than the balance due",
                payment_id=payment.id,
            )
        )
    await publish.payment_succeeded(
        session,
        payment,
        invoices=invoices,
        applied=applied_amounts,
        credited_minor=excess,
        language=language or payment.language,
    )
    await session.flush()
    return payment, True


async def void_payment(session: AsyncSession, *, payment_id: str, reason: str) -> bool:
    """End a pending payment the processor has no charge for; True when this call voided it (and wrote the
    event). Conditional on pending, like finish_payment, so a void and a late finish cannot both apply."""
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == PENDING)
        .values(status=VOIDED, failure_reason=reason, completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    payment = await session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .options(selectinload(Payment.allocations))
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    await publish.payment_failed(session, payment, failure_reason=reason)
    return True


def follows_payments(principal: Principal) -> bool:
    """May see payments at all: a Payments view permission, or Pay Online (its own payments)."""
    return any(principal.has(p) for p in (perm.PAYMENTS_VIEW_ALL, perm.PAYMENTS_VIEW_MINE, perm.INVOICES_PAY_ONLINE))


def _followed_payments(principal: Principal) -> ColumnElement[bool] | None:
    """The payments a portal user follows: those of its Payments scope, and those it made itself when it may pay
    online — so whoever paid sees that a payment is on its way and does not pay again. None: no payment."""
    if principal.is_staff or not principal.customer_id:
        return None
    conditions = []
    if principal.has(perm.PAYMENTS_VIEW_ALL) or principal.has(perm.PAYMENTS_VIEW_MINE):
        scope = visibility(principal, view_all=perm.PAYMENTS_VIEW_ALL, view_mine=perm.PAYMENTS_VIEW_MINE)
        seen = Payment.customer_id.in_(scope.customer_ids or ())
        if scope.contact_id is not None:
            seen = seen & (Payment.contact_id == scope.contact_id)
        conditions.append(seen)
    if principal.has(perm.INVOICES_PAY_ONLINE) and principal.contact_id:
        conditions.append(
            Payment.customer_id.in_(payer_customers(principal)) & (Payment.contact_id == principal.contact_id)
        )
    return or_(*conditions) if conditions else None


async def pending_payments(session: AsyncSession, *, principal: Principal, limit: int = 10) -> list[Payment]:
    """The principal's payments still waiting for the processor's answer, newest first."""
    followed = _followed_payments(principal)
    if followed is None:
        return []
    return list(
        await session.scalars(
            select(Payment)
            .where(Payment.status == PENDING, followed)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(limit)
            .options(selectinload(Payment.allocations))
        )
    )


async def followed_payment(session: AsyncSession, *, principal: Principal, payment_id: str) -> Payment:
    """One payment the principal follows, in whatever state it is now; another customer's is NOT_FOUND."""
    if not follows_payments(principal):
        raise PermissionDenied("your portal group does not allow viewing payments")
    followed = _followed_payments(principal)
    payment = (
        None
        if followed is None
        else await session.scalar(
            select(Payment)
            .where(Payment.id == payment_id, followed)
            .options(selectinload(Payment.allocations))
            .execution_options(populate_existing=True)
        )
    )
    if payment is None:
        raise NotFound("no such payment")
    return payment


async def credited(session: AsyncSession, payments: list[Payment]) -> dict[str, int]:
    """How much of each payment became store credit (its positive ledger entries)."""
    ids = [p.id for p in payments if p.status == SUCCEEDED]
    if not ids:
        return {}
    rows = await session.execute(
        select(CreditEntry.payment_id, func.sum(CreditEntry.amount_minor))
        .where(CreditEntry.payment_id.in_(ids), CreditEntry.amount_minor > 0)
        .group_by(CreditEntry.payment_id)
    )
    return {payment_id: int(total) for payment_id, total in rows}


async def get_payment(session: AsyncSession, payment_id: str) -> Payment:
    payment = await session.scalar(
        select(Payment).where(Payment.id == payment_id).options(selectinload(Payment.allocations))
    )
    if payment is None:
        raise NotFound("no such payment")
    return payment


@dataclass(frozen=True)
class PaymentPage:
    payments: list[Payment]
    numbers: dict[str, str]
    next_cursor: str


async def invoice_numbers(session: AsyncSession, payments: list[Payment]) -> dict[str, str]:
    ids = {a.invoice_id for p in payments for a in p.allocations}
    if not ids:
        return {}
    return dict((await session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(ids)))).all())


async def list_payments(
    session: AsyncSession, *, principal: Principal, page_size: int, cursor: str = "", query: str = ""
) -> PaymentPage:
    """Succeeded payments the principal may see, newest first; `query` matches invoice numbers and the method."""
    scope = visibility(principal, view_all=perm.PAYMENTS_VIEW_ALL, view_mine=perm.PAYMENTS_VIEW_MINE)
    stmt = select(Payment).where(Payment.status == SUCCEEDED)
    if scope.customer_ids is not None:
        stmt = stmt.where(Payment.customer_id.in_(scope.customer_ids))
    if scope.contact_id is not None:
        stmt = stmt.where(Payment.contact_id == scope.contact_id)
    text = query.strip()
    if text:
        pattern = f"%{escape_like(text.lower())}%"
        paid_invoice = (
            select(PaymentAllocation.payment_id)
            .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .where(PaymentAllocation.payment_id == Payment.id, func.lower(Invoice.number).like(pattern, escape="\\"))
            .exists()
        )
        stmt = stmt.where(or_(func.lower(Payment.method).like(pattern, escape="\\"), paid_invoice))
    after = keyset(cursor)
    if after is not None:
        stmt = stmt.where(tuple_(Payment.created_at, Payment.id) < after)
    rows = list(
        await session.scalars(
            stmt.order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(page_size + 1)
            .options(selectinload(Payment.allocations))
        )
    )
    page, more = rows[:page_size], len(rows) > page_size
    next_cursor = keyset_cursor(page[-1].created_at, page[-1].id) if more else ""
    return PaymentPage(page, await invoice_numbers(session, page), next_cursor)


# --- Stored payment profiles ----------------------------------------------------------------------------


async def list_profiles(session: AsyncSession, *, principal: Principal) -> list[PaymentProfile]:
    """The customer's stored payment options (Stored Payment Options - Manage, or Pay Online to choose one)."""
    if not (principal.has(perm.PAYMENT_OPTIONS_MANAGE) or principal.has(perm.INVOICES_PAY_ONLINE)):
        raise PermissionDenied("your portal group does not allow this action")
    return list(
        await session.scalars(
            select(PaymentProfile)
            .where(PaymentProfile.customer_id.in_(payer_customers(principal)))
            .order_by(PaymentProfile.created_at, PaymentProfile.id)
        )
    )


async def add_profile(
    session: AsyncSession, *, principal: Principal, processor_token: str, details: TokenDetails, nickname: str
) -> PaymentProfile:
    """Store a processor token with the brand, last four and expiry the processor reported."""
    require(principal, perm.PAYMENT_OPTIONS_MANAGE)
    payer_customers(principal)
    customer_id = principal.customer_id
    if await session.scalar(select(PaymentProfile.id).where(PaymentProfile.processor_token == processor_token)):
        raise FailedPrecondition("this card is already stored")
    profile = PaymentProfile(
        customer_id=customer_id,
        contact_id=principal.contact_id or None,
        kind=details.kind,
        processor_token=processor_token,
        brand=details.brand[:20],
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
        nickname=_nickname(nickname),
    )
    session.add(profile)
    await session.flush()
    return profile


def _nickname(nickname: str) -> str:
    nickname = nickname.strip()
    if len(nickname) > MAX_NICKNAME:
        raise InvalidArgument(f"a nickname has at most {MAX_NICKNAME} characters", field="nickname")
    return nickname


async def _own_profile(session: AsyncSession, principal: Principal, profile_id: str) -> PaymentProfile:
    require(principal, perm.PAYMENT_OPTIONS_MANAGE)
    profile = await session.scalar(
        select(PaymentProfile).where(
            PaymentProfile.id == profile_id, PaymentProfile.customer_id.in_(payer_customers(principal))
        )
    )
    if profile is None:
        raise NotFound("no such payment profile")
    return profile


async def update_profile(
    session: AsyncSession,
    *,
    principal: Principal,
    profile_id: str,
    nickname: str | None = None,
    reminder_on: str | None = None,
) -> PaymentProfile:
    """Change the nickname any time; set the expiration reminder once (SPEC B2)."""
    profile = await _own_profile(session, principal, profile_id)
    if nickname is not None:
        profile.nickname = _nickname(nickname)
    if reminder_on is not None:
        if profile.kind == "ach":
            raise InvalidArgument(
                "a bank account does not expire, so it has no expiration reminder", field="reminder_on"
            )
        if profile.reminder_locked:
            raise FailedPrecondition("the expiration reminder can be changed only once")
        try:
            profile.reminder_on = date.fromisoformat(reminder_on)
        except ValueError:
            raise InvalidArgument("the reminder must be a date, YYYY-MM-DD", field="reminder_on") from None
        profile.reminder_locked = True
    await session.flush()
    return profile


async def delete_profile(session: AsyncSession, *, principal: Principal, profile_id: str) -> None:
    """Forget a stored payment option (payments made with it keep their brand and last four)."""
    profile = await _own_profile(session, principal, profile_id)
    await session.delete(profile)
    await session.flush()


async def applied_to(session: AsyncSession, *, invoice_id: str) -> list[tuple[str, datetime, int]]:
    """(payment id, when, amount) of the succeeded payments applied to an invoice, oldest first."""
    rows = await session.execute(
        select(Payment.id, Payment.completed_at, PaymentAllocation.amount_minor)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .where(PaymentAllocation.invoice_id == invoice_id, Payment.status == SUCCEEDED)
        .order_by(Payment.completed_at)
    )
    return [(p_id, at or utcnow(), amount) for p_id, at, amount in rows]
