"""Billing rules the pages and the API share: how a payment is paid (store credit, a saved card, a new card), and
what an invoice PDF is drawn with (the bill-to from identity, the language)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.clients.billing import BillingClient
from gateway.clients.identity import IdentityClient

# The pay form's choice values for the two ways that are not a saved card (a saved card's value is its id).
STORE_CREDIT = "store-credit"
NEW_CARD = "new-card"


@dataclass(frozen=True)
class Method:
    """Store credit, or a card: a saved one (profile_id) or a new one (the processor's token for it)."""

    store_credit: bool = False
    profile_id: str = ""
    processor_token: str = ""

    @classmethod
    def from_choice(cls, choice: str, new_card_token: str = "") -> Method:
        """The pay form's choice: STORE_CREDIT, NEW_CARD (with the token the processor's page gave) or a saved card."""
        if choice == STORE_CREDIT:
            return cls(store_credit=True)
        if choice == NEW_CARD:
            return cls(processor_token=new_card_token)
        return cls(profile_id=choice)


async def pay(
    billing: BillingClient,
    token: str,
    *,
    idempotency_key: str,
    allocations: list[tuple[str, int]],
    method: Method,
    language: str = "",
):  # noqa: ANN201 - billing's MakePayment / ApplyStoreCredit answer
    """Pay the allocations (invoice id, minor units) the chosen way; the same key pays once, whichever way.
    `language` (en, fr) is the payer's, for the receipt email identity sends."""
    if method.store_credit:
        return await billing.apply_credit(
            token, idempotency_key=idempotency_key, allocations=allocations, language=language
        )
    return await billing.pay(
        token,
        idempotency_key=idempotency_key,
        allocations=allocations,
        profile_id=method.profile_id,
        processor_token=method.processor_token,
        language=language,
    )


async def invoice_pdf(billing: BillingClient, identity: IdentityClient, token: str, invoice_id: str, *, language: str):  # noqa: ANN201 - billing's GetInvoicePdf answer
    """The invoice's PDF in `language`, billed to its customer as identity holds it (name and billing address):
    billing keeps only ids. Billing decides first whether the caller may see the invoice (NOT_FOUND otherwise)."""
    invoice = (await billing.get_invoice(token, invoice_id)).invoice
    name, lines = await identity.bill_to(token, invoice.customer_id)
    return await billing.invoice_pdf(token, invoice_id, language=language, bill_to_name=name, bill_to_lines=lines)
