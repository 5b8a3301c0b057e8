"""What staff do with payments: a customer's payments of every status, a payment received outside the processor
(cash, check, bank transfer), and refunds. Functions never commit.

A manual payment is applied like a portal payment — the invoices locked by `payable_invoices`, what pending
payments hold refused, `finish_payment` applying it — but no processor is called: it is begun and finished in one
unit of work. Staff's idempotency key is kept in `staff_requests` (operation "manual_payment").

A refund follows the payments' three steps, so no unit of work spans the processor call:

1. `begin_refund` (one transaction): the payment row is locked, the amount checked against what is left of it
   (amount − refunded − refunds still pending), and a *pending* `refunds` row written with staff's key
   (`staff_requests`, operation "refund"); a repeat of the key answers that row.
2. The caller asks the processor with `portal-refund-<refund id>` as its idempotency key.
3. `finish_refund`: a conditional update from pending; only the caller whose update matched adds the amount to
   `payments.refunded_minor` and writes `payment_refunded`.

A refund does not reopen the invoices the payment paid (as in Stripe's invoicing): they stay paid, and the payment
shows what was given back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from billing.customers.models import StaffRequest
from billing.customers.service import MAX_KEY, claim_key, request_digest, require_billing_admin, require_staff
from billing.db import utcnow
from billing.events import publish
from billing.invoices.service import AllocationInput, check_currency, open_payable_invoices, payable_invoices
from billing.payments import service as payments
from billing.payments.models import FAILED, PENDING, SUCCEEDED, Payment, PaymentAllocation, Refund
from billing.payments.processor import Charge
from billing.payments.processor import Refund as ProcessorRefund
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound
from servicekit.money import MAX_MINOR, TOO_LARGE
from servicekit.pagination import keyset, keyset_cursor
from servicekit.principal import Principal

MANUAL_METHODS = {"cash": "Cash", "check": "Check", "bank_transfer": "Bank transfer"}
MAX_REFERENCE = 40
MAX_REASON = 500


def _key(idempotency_key: str) -> str:
    key = idempotency_key.strip()
    if not key:
        raise InvalidArgument("an idempotency key is required", field="idempotency_key")
    if len(key) > MAX_KEY:
        raise InvalidArgument(f"the idempotency key is longer than {MAX_KEY} characters", field="idempotency_key")
    return key


async def _earlier(session: AsyncSession, operation: str, key: str, digest: str) -> str | None:
    """The id this key already made, None when it is new; FAILED_PRECONDITION when it was used for another request.

    Looked up before the request is checked, and the key claimed only once every check passed: a refused request
    then leaves no trace, so the form that sent it can be corrected and sent again with the same key. (On SQLite a
    savepoint's insert outlives the rollback of its transaction, so claiming first would keep a refused key.)
    """
    found = await session.get(StaffRequest, (operation, key), populate_existing=True)
    if found is None:
        return None
    if found.request_digest != digest or not found.result_id:
        raise FailedPrecondition(f"this idempotency key was already used for a different {operation.replace('_', ' ')}")
    return found.result_id


def is_processor_payment(payment: Payment) -> bool:
    """Taken through the card processor: not cash, check, bank transfer or store credit (those have no token)."""
    return bool(payment.processor_token)


async def pending_refunds(session: AsyncSession, payment_ids: list[str]) -> dict[str, int]:
    """What refunds still at the processor hold of each payment."""
    if not payment_ids:
        return {}
    rows = await session.execute(
        select(Refund.payment_id, func.sum(Refund.amount_minor))
        .where(Refund.payment_id.in_(payment_ids), Refund.status == PENDING)
        .group_by(Refund.payment_id)
    )
    return {payment_id: int(total) for payment_id, total in rows}


def refundable(payment: Payment, pending: int) -> int:
    """What can still be refunded of a payment: 0 unless it is a succeeded processor payment."""
    if payment.status != SUCCEEDED or not is_processor_payment(payment):
        return 0
    return max(payment.amount_minor - payment.refunded_minor - pending, 0)


# --- a customer's payments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerPayments:
    payments: list[Payment]
    numbers: dict[str, str]
    pending_refunds: dict[str, int]
    next_cursor: str


async def list_customer_payments(
    session: AsyncSession, *, principal: Principal, customer_id: str, page_size: int, cursor: str = ""
) -> CustomerPayments:
    """Staff see one customer's payments of every status (pending, succeeded, failed, voided), newest first."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    stmt = select(Payment).where(Payment.customer_id == customer_id)
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
    return CustomerPayments(
        page,
        await payments.invoice_numbers(session, page),
        await pending_refunds(session, [p.id for p in page]),
        next_cursor,
    )


async def refunds_of(session: AsyncSession, payment_ids: list[str]) -> dict[str, tuple[int, str]]:
    """(refunded, method) of each payment: what an invoice page shows next to the payments applied to it."""
    if not payment_ids:
        return {}
    rows = await session.execute(
        select(Payment.id, Payment.refunded_minor, Payment.method).where(Payment.id.in_(payment_ids))
    )
    return {p_id: (int(refunded), method) for p_id, refunded, method in rows}


# --- a payment received outside the processor --------------------------------------------------------------------


async def record_payment(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    method: str,
    reference: str,
    amount_minor: int,
    currency: str,
    allocations: list[AllocationInput],
    idempotency_key: str,
    overpayment_to_credit: bool = False,
) -> payments.Begun:
    """Staff record cash, a check or a bank transfer: applied to the allocations given, or spread over the open
    invoices oldest first, in one transaction (no processor call). Once per idempotency key."""
    require_billing_admin(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    if method not in MANUAL_METHODS:
        raise InvalidArgument("the method is cash, check or bank_transfer", field="method")
    reference = reference.strip()
    if method != "cash" and not reference:
        raise InvalidArgument("a check number or transfer reference is required", field="reference")
    if len(reference) > MAX_REFERENCE:
        raise InvalidArgument(f"the reference has at most {MAX_REFERENCE} characters", field="reference")
    currency = check_currency(currency)
    if allocations:
        total = sum(a.amount_minor for a in allocations)
        if amount_minor and amount_minor != total:
            raise InvalidArgument("the amount is not the sum of the allocations", field="amount")
        amount_minor = total
    if amount_minor <= 0:
        raise InvalidArgument("the amount must be positive", field="amount")
    if amount_minor > MAX_MINOR:
        raise InvalidArgument(TOO_LARGE, field="amount")
    key = _key(idempotency_key)
    digest = request_digest(
        customer_id=customer_id,
        method=method,
        reference=reference,
        amount_minor=amount_minor,
        currency=currency,
        allocations=[(a.invoice_id, a.amount_minor) for a in allocations],
    )
    if (earlier := await _earlier(session, "manual_payment", key, digest)) is not None:
        return payments.Begun(await payments.get_payment(session, earlier), replayed=True)
    try:
        allocations = await _checked_allocations(
            session, principal, customer_id, amount_minor, currency, allocations, overpayment_to_credit
        )
    except (FailedPrecondition, InvalidArgument):
        # A twin with this key may have paid these invoices meanwhile (it held their locks): its answer.
        if (earlier := await _earlier(session, "manual_payment", key, digest)) is not None:
            return payments.Begun(await payments.get_payment(session, earlier), replayed=True)
        raise
    claim = await claim_key(
        session, principal=principal, operation="manual_payment", idempotency_key=key, digest=digest
    )
    if claim.replay_id is not None:
        return payments.Begun(await payments.get_payment(session, claim.replay_id), replayed=True)
    payment = Payment(
        customer_id=customer_id,
        contact_id=None,
        idempotency_key=f"staff-{key}",
        request_digest=digest,
        status=PENDING,
        currency=currency,
        amount_minor=amount_minor,
        processor_token="",
        method=f"{MANUAL_METHODS[method]} {reference}".strip()[:60],
    )
    payment.allocations = [
        PaymentAllocation(position=i, invoice_id=a.invoice_id, amount_minor=a.amount_minor)
        for i, a in enumerate(allocations, start=1)
    ]
    session.add(payment)
    await session.flush()
    claim.record(payment.id)
    charge = Charge(id=f"manual-{payment.id}", succeeded=True, amount_minor=amount_minor, currency=currency)
    payment, _ = await payments.finish_payment(session, payment_id=payment.id, charge=charge)
    return payments.Begun(payment, replayed=False)


async def _checked_allocations(
    session: AsyncSession,
    principal: Principal,
    customer_id: str,
    amount_minor: int,
    currency: str,
    allocations: list[AllocationInput],
    overpayment_to_credit: bool,
) -> list[AllocationInput]:
    """The allocations (oldest first when none were given), checked against the locked invoices' balances and
    what pending payments hold, as a portal payment's are."""
    if not allocations:
        allocations = await _oldest_first(session, principal, customer_id, amount_minor, currency)
        left = amount_minor - sum(a.amount_minor for a in allocations)
        if left:
            if not (overpayment_to_credit and allocations):
                raise InvalidArgument(
                    "the amount is more than the customer's open invoices leave to pay (overpayment is refused)",
                    field="amount",
                )
            last = allocations[-1]
            allocations[-1] = AllocationInput(last.invoice_id, last.amount_minor + left)
    invoices, invoice_currency = await payable_invoices(
        session, principal, allocations, overpayment=overpayment_to_credit, customer_id=customer_id
    )
    if invoice_currency != currency:
        raise InvalidArgument(f"the invoices are in {invoice_currency}", field="currency")
    if not overpayment_to_credit:
        await payments._refuse_what_pending_payments_hold(session, invoices, allocations)  # noqa: SLF001
    return allocations


async def _oldest_first(
    session: AsyncSession, principal: Principal, customer_id: str, amount_minor: int, currency: str
) -> list[AllocationInput]:
    """The amount spread over the customer's open invoices in `currency`, oldest first, over what pending payments
    leave due."""
    open_invoices = [
        inv
        for inv in await open_payable_invoices(session, principal, customer_id=customer_id)
        if inv.currency == currency
    ]
    held = dict(
        (
            await session.execute(
                select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount_minor))
                .join(Payment, Payment.id == PaymentAllocation.payment_id)
                .where(Payment.status == PENDING, PaymentAllocation.invoice_id.in_([i.id for i in open_invoices]))
                .group_by(PaymentAllocation.invoice_id)
            )
        ).all()
    )
    left, allocations = amount_minor, []
    for inv in open_invoices:
        share = min(left, inv.balance_minor - int(held.get(inv.id, 0)))
        if share > 0:
            allocations.append(AllocationInput(inv.id, share))
            left -= share
    return allocations


# --- refunds ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundBegun:
    refund: Refund
    replayed: bool


def processor_key(refund: Refund) -> str:
    """The key the processor deduplicates refunds on: one per refund row, the same on every replica and retry."""
    return f"portal-refund-{refund.id}"


async def begin_refund(
    session: AsyncSession,
    *,
    principal: Principal,
    payment_id: str,
    amount_minor: int,
    reason: str,
    idempotency_key: str,
) -> RefundBegun:
    """Write a pending refund of part or all of a processor payment, or find the one this key made. The payment
    row is locked, so two refunds of one payment are decided one after the other on every replica and together
    never exceed what was charged."""
    require_billing_admin(principal)
    if amount_minor <= 0:
        raise InvalidArgument("the refund must be a positive amount", field="amount")
    if amount_minor > MAX_MINOR:
        raise InvalidArgument(TOO_LARGE, field="amount")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidArgument(f"the reason has at most {MAX_REASON} characters", field="reason")
    key = _key(idempotency_key)
    digest = request_digest(payment_id=payment_id, amount_minor=amount_minor, reason=reason)
    # The payment first: two refunds of it (any keys, any replicas) are decided one after the other.
    payment = await session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update().execution_options(populate_existing=True)
    )
    if payment is None:
        raise NotFound("no such payment")
    if (earlier := await _earlier(session, "refund", key, digest)) is not None:
        found = await session.get(Refund, earlier, populate_existing=True)
        assert found is not None
        return RefundBegun(found, replayed=True)
    if not is_processor_payment(payment):
        raise FailedPrecondition(
            f"this payment ({payment.method}) was not taken through the payment processor, so it cannot be refunded"
            " here; give the money back outside the portal"
        )
    if payment.status != SUCCEEDED:
        raise FailedPrecondition(f"this payment is {payment.status}; only a succeeded payment can be refunded")
    left = refundable(payment, (await pending_refunds(session, [payment.id])).get(payment.id, 0))
    if amount_minor > left:
        raise InvalidArgument(
            f"at most {left // 100}.{left % 100:02d} {payment.currency} of this payment can still be refunded",
            field="amount",
        )
    claim = await claim_key(session, principal=principal, operation="refund", idempotency_key=key, digest=digest)
    if claim.replay_id is not None:
        found = await session.get(Refund, claim.replay_id, populate_existing=True)
        assert found is not None
        return RefundBegun(found, replayed=True)
    refund = Refund(
        payment_id=payment.id,
        status=PENDING,
        amount_minor=amount_minor,
        currency=payment.currency,
        reason=reason,
        created_by=principal.subject_id,
    )
    session.add(refund)
    await session.flush()
    claim.record(refund.id)
    return RefundBegun(refund, replayed=False)


async def finish_refund(
    session: AsyncSession, *, refund_id: str, outcome: ProcessorRefund | None, failure_reason: str = ""
) -> tuple[Refund, Payment, bool]:
    """Record the processor's answer once (`outcome` None: it refused); True when this call recorded it."""
    status = SUCCEEDED if outcome is not None else FAILED
    result = await session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == PENDING)
        .values(
            status=status,
            processor_refund_id=outcome.id if outcome else None,
            failure_reason=failure_reason[:500],
            completed_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    refund = await session.get(Refund, refund_id, populate_existing=True)
    assert refund is not None
    recorded = result.rowcount == 1
    if recorded and outcome is not None:
        await session.execute(
            update(Payment)
            .where(Payment.id == refund.payment_id)
            .values(refunded_minor=Payment.refunded_minor + refund.amount_minor)
            .execution_options(synchronize_session=False)
        )
    payment = await session.scalar(
        select(Payment)
        .where(Payment.id == refund.payment_id)
        .options(selectinload(Payment.allocations))
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    if recorded and outcome is not None:
        await publish.payment_refunded(session, payment, refund)
    return refund, payment, recorded
