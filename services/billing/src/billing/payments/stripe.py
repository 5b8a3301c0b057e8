"""Stripe adapter: tokens are Stripe PaymentMethods created by Stripe.js/Checkout in the browser, charges are
confirmed PaymentIntents created with Stripe's own Idempotency-Key.

Not exercised by the test suite: the test machines have no route to api.stripe.com. The sandbox processor
(sandbox.py) stands in for it in tests and in `make run`.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from billing.payments.processor import Charge, InvalidToken, ProcessorError, TokenDetails, TokenFormat

API = "https://api.stripe.com"


class StripeProcessor:
    # Stripe collects card numbers on its own hosted pages (Checkout / Elements); the portal links there.
    tokenize_url = "https://checkout.stripe.com"
    # PaymentMethod ids: "pm_" and letters and digits (Stripe's ids are at most 255 characters).
    token_format = TokenFormat(r"pm_[A-Za-z0-9]{1,252}", "a Stripe PaymentMethod id (pm_…)")

    def __init__(self, api_key: str, *, timeout: float = 10.0, base_url: str = API) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, auth=(api_key, ""), timeout=timeout)

    async def describe_token(self, token: str) -> TokenDetails:
        try:
            resp = await self._http.get(f"/v1/payment_methods/{quote(token, safe='')}")
        except httpx.HTTPError as exc:
            raise ProcessorError(f"Stripe unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code == 404:
            raise InvalidToken(token)
        if resp.status_code != 200:
            raise ProcessorError(f"Stripe answered {resp.status_code}")
        body = resp.json()
        if body.get("type") == "us_bank_account":
            bank = body["us_bank_account"]
            return TokenDetails("ach", bank.get("bank_name") or "ach", bank["last4"], 0, 0)
        card = body["card"]
        return TokenDetails("card", card["brand"], card["last4"], card["exp_month"], card["exp_year"])

    async def charge(
        self, *, token: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Charge:
        try:
            resp = await self._http.post(
                "/v1/payment_intents",
                data={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "payment_method": token,
                    "confirm": "true",
                    "off_session": "true",
                    "description": description,
                },
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.HTTPError as exc:
            raise ProcessorError(f"Stripe did not answer: {exc.__class__.__name__}") from exc
        body = resp.json()
        if resp.status_code == 402:
            err = body.get("error", {})
            intent = err.get("payment_intent") or {}
            return Charge(
                id=intent.get("id", ""),
                succeeded=False,
                amount_minor=amount_minor,
                currency=currency,
                failure_reason=err.get("decline_code") or err.get("code") or "card_declined",
            )
        if resp.status_code != 200:
            raise ProcessorError(f"Stripe answered {resp.status_code}")
        return Charge(
            id=body["id"],
            succeeded=body["status"] == "succeeded",
            amount_minor=body["amount"],
            currency=body["currency"].upper(),
            failure_reason="" if body["status"] == "succeeded" else body["status"],
        )

    async def close(self) -> None:
        await self._http.aclose()
