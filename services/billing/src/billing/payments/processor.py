"""The payment processor interface billing charges through; implementations: sandbox.py and stripe.py.

Billing only ever holds a processor token. Every charge carries billing's idempotency key, so a charge retried
after a timeout (or sent by a second replica) is the same charge at the processor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenDetails:
    kind: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    # The portal customer the processor keeps the token for, when it keeps tokens per customer (Stripe: the
    # Customer billing made when the card was added); "" when it does not say (the sandbox).
    owner: str = ""


@dataclass(frozen=True)
class Charge:
    id: str
    succeeded: bool
    amount_minor: int
    currency: str
    failure_reason: str = ""


@dataclass(frozen=True)
class Refund:
    id: str
    charge_id: str
    amount_minor: int
    currency: str


class ProcessorError(Exception):
    """The processor could not be asked, or did not answer in time; the outcome of a charge is unknown."""


class InvalidToken(Exception):
    """The processor does not know the token."""


class RefundRefused(Exception):
    """The processor refused the refund (e.g. more than what is left of the charge); the message says why."""


class WebhookRejected(Exception):
    """A webhook that is not provably the processor's (bad signature, no secret, not an event): nothing is read
    from it and nothing is written."""


@dataclass(frozen=True)
class ProcessorEvent:
    """A verified webhook event: its id and type, and for an event that decides a charge, billing's idempotency
    key of that charge (from the charge's metadata) and the charge as the processor now sees it."""

    id: str
    type: str
    idempotency_key: str
    charge: Charge | None


@dataclass(frozen=True)
class Setup:
    """Adding a card on the processor's hosted page: its id, and where to send the browser."""

    id: str
    redirect_url: str


class TokenFormat:
    """What a processor's tokens look like. A client's token is checked against it before any call, so a
    control character, a path segment or an over-long value is a clear INVALID_ARGUMENT — never a URL of the
    client's making at the processor (adapters quote the token in URLs all the same)."""

    def __init__(self, pattern: str, hint: str) -> None:
        self.pattern = re.compile(pattern)
        self.hint = hint

    def matches(self, token: str) -> bool:
        return self.pattern.fullmatch(token) is not None


class PaymentProcessor(Protocol):
    tokenize_url: str
    token_format: TokenFormat

    async def describe_token(self, token: str) -> TokenDetails: ...

    async def charge(
        self, *, token: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Charge: ...

    async def find_charge(self, idempotency_key: str) -> Charge | None:
        """The charge made with this idempotency key, or None when the processor has none: how the reconciler
        learns the outcome of a charge whose answer was lost (a crash, a timeout). Raises ProcessorError when
        the processor cannot be asked."""
        ...

    async def refund(self, *, charge_id: str, amount_minor: int, currency: str, idempotency_key: str) -> Refund:
        """Give back part or all of a charge, once per idempotency key. RefundRefused when the processor says no."""
        ...

    async def close(self) -> None: ...


class HostedSetup(Protocol):
    """What a processor that takes cards on its own hosted page (Stripe) also does; the sandbox takes a form post
    to `tokenize_url` instead."""

    async def start_setup(
        self, *, portal_customer_id: str, success_url: str, cancel_url: str, kind: str = "card"
    ) -> Setup: ...

    async def finish_setup(self, setup_id: str, *, portal_customer_id: str) -> str:
        """The token the setup saved; InvalidToken when unknown, unfinished or another customer's."""
        ...


class Webhooks(Protocol):
    def verify_event(self, payload: bytes, signature: str) -> ProcessorEvent:
        """The verified event; WebhookRejected when it is not provably the processor's."""
        ...
