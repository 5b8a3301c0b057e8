"""The payment processor interface billing charges through; implementations: sandbox.py and stripe.py.

Billing only ever holds a processor token. Every charge carries billing's idempotency key, so a charge retried
after a timeout (or sent by a second replica) is the same charge at the processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenDetails:
    kind: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charge:
    id: str
    succeeded: bool
    amount_minor: int
    currency: str
    failure_reason: str = ""


class ProcessorError(Exception):
    """The processor could not be asked, or did not answer in time; the outcome of a charge is unknown."""


class InvalidToken(Exception):
    """The processor does not know the token."""


class PaymentProcessor(Protocol):
    tokenize_url: str

    async def describe_token(self, token: str) -> TokenDetails: ...

    async def charge(
        self, *, token: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Charge: ...

    async def close(self) -> None: ...
