"""Card brands as people write them: the portal's pages (gateway) and the receipt email (identity) name a payment's
method the same way ("Visa 4242", not the processor's "visa 4242")."""

from __future__ import annotations

# Card brands as processors spell them ("visa", Stripe's "amex") and as people write them.
CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american_express": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
    "eftpos_au": "eftpos Australia",
}


def brand_name(brand: str) -> str:
    """A card brand as people write it ("mastercard" → "Mastercard", "amex" → "American Express"); an unknown one
    with its first letter capitalised."""
    known = CARD_BRANDS.get(brand.strip().lower())
    return known or (brand[:1].upper() + brand[1:])


def method_label(method: str) -> str:
    """A payment's method as billing records it ("visa 4242", "Cash 1042") with its card brand written properly."""
    first, sep, rest = method.partition(" ")
    known = CARD_BRANDS.get(first.lower())
    return f"{known}{sep}{rest}" if known else method
