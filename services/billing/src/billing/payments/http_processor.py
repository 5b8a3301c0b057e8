"""Processor adapters over HTTP: the sandbox service and Stripe share the token + idempotent charge shape."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx

from billing.payments.processor import (
    Charge,
    InvalidToken,
    ProcessorError,
    Refund,
    RefundRefused,
    TokenDetails,
    TokenFormat,
)

# The sandbox's tokens: "tok_" and 24 hex digits (billing.payments.sandbox).
SANDBOX_TOKENS = TokenFormat(r"tok_[0-9a-f]{24}", "tok_ followed by 24 hexadecimal digits")


class SandboxProcessor:
    """Charges through the sandbox processor service (billing.payments.sandbox)."""

    token_format = SANDBOX_TOKENS

    def __init__(
        self,
        base_url: str,
        *,
        public_url: str = "",
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # httpx's timeout is per phase (connect, each read); `timeout` bounds the whole call.
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, trust_env=False, transport=transport
        )
        self.tokenize_url = (public_url or base_url).rstrip("/") + "/v1/tokens"

    async def describe_token(self, token: str) -> TokenDetails:
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self._http.get(f"/v1/tokens/{quote(token, safe='')}")
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ProcessorError(f"sandbox processor unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code == 404:
            raise InvalidToken(token)
        if resp.status_code != 200:
            raise ProcessorError(f"sandbox processor answered {resp.status_code}")
        body = resp.json()
        return TokenDetails(body["kind"], body["brand"], body["last4"], body["exp_month"], body["exp_year"])

    async def charge(
        self, *, token: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Charge:
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self._http.post(
                    "/v1/charges",
                    data={"source": token, "amount": amount_minor, "currency": currency, "description": description},
                    headers={"Idempotency-Key": idempotency_key},
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ProcessorError(f"sandbox processor did not answer: {exc.__class__.__name__}") from exc
        if resp.status_code == 404:
            raise InvalidToken(token)
        if resp.status_code != 200:
            raise ProcessorError(f"sandbox processor answered {resp.status_code}")
        return _charge(resp.json())

    async def find_charge(self, idempotency_key: str) -> Charge | None:
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self._http.get(f"/v1/charges/by-key/{quote(idempotency_key, safe='')}")
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ProcessorError(f"sandbox processor unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise ProcessorError(f"sandbox processor answered {resp.status_code}")
        return _charge(resp.json())

    async def refund(self, *, charge_id: str, amount_minor: int, currency: str, idempotency_key: str) -> Refund:
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self._http.post(
                    "/v1/refunds",
                    data={"charge": charge_id, "amount": amount_minor},
                    headers={"Idempotency-Key": idempotency_key},
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ProcessorError(f"sandbox processor did not answer: {exc.__class__.__name__}") from exc
        if resp.status_code in (400, 404):
            raise RefundRefused(resp.json().get("error", {}).get("message", "refused"))
        if resp.status_code != 200:
            raise ProcessorError(f"sandbox processor answered {resp.status_code}")
        body = resp.json()
        return Refund(id=body["id"], charge_id=body["charge"], amount_minor=body["amount"], currency=body["currency"])

    async def close(self) -> None:
        await self._http.aclose()


def _charge(body: dict) -> Charge:
    return Charge(
        id=body["id"],
        succeeded=body["status"] == "succeeded",
        amount_minor=body["amount"],
        currency=body["currency"],
        failure_reason=body.get("failure_code") or "",
    )
