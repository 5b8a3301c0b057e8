"""Stripe adapter over the official `stripe` SDK (its async methods, on httpx).

- Tokens are PaymentMethod ids (pm_…), made by Stripe's own hosted page: billing starts a Checkout Session in
  `setup` mode (`start_setup`), the browser goes to Stripe and comes back to the portal, and billing reads the
  PaymentMethod its SetupIntent saved (`finish_setup`). Card and bank account numbers never reach us.
- A charge is a PaymentIntent created and confirmed at once, off session, with billing's key as Stripe's
  Idempotency-Key and in its metadata (`portal_key`), so a retry is the same PaymentIntent and the reconciler
  can find it by key.
- Webhooks (`verify_event`) are checked against the endpoint's signing secret before anything is read from them.

Tested against localstripe, a stateful emulator of Stripe's API, by services/billing/tests/test_stripe.py;
docs/billing.md says which steps the emulator cannot show. The API key never leaves the SDK's Authorization
header: it is not logged, not put in an error and not in a URL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import stripe

from billing.payments.processor import (
    Charge,
    InvalidToken,
    ProcessorError,
    ProcessorEvent,
    Refund,
    RefundRefused,
    Setup,
    TokenDetails,
    TokenFormat,
    WebhookRejected,
)

log = logging.getLogger(__name__)

API = "https://api.stripe.com"
# Where billing's idempotency key is kept on a PaymentIntent, so `find_charge` can find it.
KEY_FIELD = "portal_key"
# Stripe's events that finish a payment; the others are acknowledged and ignored.
FINISHING_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")
# PaymentIntent states in which Stripe has not decided yet: the outcome is unknown, not "no charge".
UNDECIDED = ("processing", "requires_confirmation", "requires_capture")


# Where Checkout's hosted pages are: the portal's page that starts a setup lets its form lead there (CSP).
CHECKOUT_ORIGIN = "https://checkout.stripe.com"


class StripeProcessor:
    # PaymentMethod ids: "pm_" and letters, digits and underscores (Stripe's ids are at most 255 characters;
    # test ids such as pm_card_visa have underscores).
    token_format = TokenFormat(r"pm_[A-Za-z0-9_]{1,252}", "a Stripe PaymentMethod id (pm_…)")

    def __init__(
        self,
        api_key: str,
        *,
        webhook_secret: str = "",
        timeout: float = 10.0,
        base_url: str = API,
        checkout: bool = True,
    ) -> None:
        # `timeout` bounds each whole call (the SDK's own is per HTTP request); no SDK retries, so a timeout is
        # the caller's to retry with the same idempotency key.
        self.timeout = timeout
        self._webhook_secret = webhook_secret
        # Checkout Sessions (the hosted page) in production; the emulator has none, so its tests start a bare
        # SetupIntent and confirm it as Stripe's page would (see start_setup).
        self._checkout = checkout
        # Stripe has no form the portal could post card fields to: cards are added through `start_setup`, and
        # this is only the origin the browser is sent to, which the page's form-action must allow.
        self.tokenize_url = CHECKOUT_ORIGIN if checkout else ""
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": base_url}, http_client=self._http, max_network_retries=0
        )

    async def _call(self, what: str, call: Any) -> Any:
        """Run one SDK call within the timeout; Stripe unreachable, a 5xx, a 429 or an unusable answer is a
        ProcessorError (outcome unknown). Card and request errors are the caller's to handle."""
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except TimeoutError as exc:
            raise ProcessorError(f"Stripe did not answer ({what})") from exc
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError, stripe.IdempotencyError) as exc:
            raise ProcessorError(f"Stripe could not be asked ({what}): {exc.__class__.__name__}") from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            # A wrong or revoked API key: an operator's problem, never retried into success by the customer.
            raise ProcessorError(f"Stripe refused billing's API key ({what})") from exc

    async def describe_token(self, token: str) -> TokenDetails:
        try:
            pm = await self._call(
                "payment method",
                self._client.v1.payment_methods.retrieve_async(token, {"expand": ["customer"]}),
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise InvalidToken(token) from None
            raise ProcessorError(f"Stripe refused the look-up: {exc.code or exc.http_status}") from None
        return _details(_plain(pm))

    async def charge(
        self, *, token: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Charge:
        try:
            pm = await self._call("payment method", self._client.v1.payment_methods.retrieve_async(token))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise InvalidToken(token) from None
            raise ProcessorError(f"Stripe refused the look-up: {exc.code or exc.http_status}") from None
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "payment_method": token,
            "payment_method_types": [pm.type],
            "confirm": True,
            "off_session": True,
            # `description` is not sent: the emulator refuses the field. The key says which payment this is.
            "metadata": {KEY_FIELD: idempotency_key},
        }
        # A saved PaymentMethod belongs to a Stripe Customer; Stripe charges it only with that customer named.
        if pm.customer:
            params["customer"] = pm.customer if isinstance(pm.customer, str) else pm.customer.id
        try:
            intent = await self._call(
                "charge",
                self._client.v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key}),
            )
        except stripe.CardError as exc:
            declined = _declined(exc, amount_minor, currency)
            if declined.id.startswith("ch_"):
                # The emulator names only the charge in its error; the PaymentIntent is what refunds and
                # find_charge speak of, as Stripe's own error names it.
                found = await self._call("charge", self._client.v1.charges.retrieve_async(declined.id))
                if found.payment_intent:
                    pi = found.payment_intent
                    declined = Charge(
                        pi if isinstance(pi, str) else pi.id,
                        False,
                        amount_minor,
                        currency,
                        failure_reason=declined.failure_reason,
                    )
            return declined
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise InvalidToken(token) from None
            raise ProcessorError(f"Stripe refused the charge request: {exc.code or exc.http_status}") from None
        if intent.status == "requires_action":
            # The bank wants the card holder (3-D Secure), who is not here off session: the charge failed. The
            # intent is cancelled so it cannot be completed later behind our back.
            await self._cancel(intent.id)
            return Charge(intent.id, False, amount_minor, currency, failure_reason="authentication_required")
        return _charge(_plain(intent))

    async def _cancel(self, intent_id: str) -> None:
        try:
            await self._call("cancel", self._client.v1.payment_intents.cancel_async(intent_id))
        except (ProcessorError, stripe.StripeError) as exc:
            log.warning("could not cancel a PaymentIntent that needs authentication", extra={"error": str(exc)})

    async def find_charge(self, idempotency_key: str) -> Charge | None:
        # The PaymentIntents are listed and filtered on our metadata rather than found with Stripe's Search API:
        # Search is eventually consistent (a PaymentIntent made seconds ago may not be found yet), and a "none"
        # that is wrong would make the reconciler void a payment whose card was charged. Listing is consistent.
        # It reads every PaymentIntent of the account, newest first, until the key is found: fine while the
        # reconciler asks about the few payments a crash left pending; the emulator supports nothing else.
        listing = await self._call("find charge", self._client.v1.payment_intents.list_async({"limit": 100}))
        try:
            async with asyncio.timeout(self.timeout * 10):
                async for found in listing.auto_paging_iter():
                    intent = _plain(found)
                    if (intent.get("metadata") or {}).get(KEY_FIELD) == idempotency_key:
                        if intent["status"] in UNDECIDED or intent["status"] == "requires_action":
                            raise ProcessorError(f"the PaymentIntent is {intent['status']}: not decided yet")
                        return _charge(intent)
        except TimeoutError as exc:
            raise ProcessorError("Stripe did not answer (find charge)") from exc
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise ProcessorError(f"Stripe could not be asked (find charge): {exc.__class__.__name__}") from exc
        return None

    async def refund(self, *, charge_id: str, amount_minor: int, currency: str, idempotency_key: str) -> Refund:
        try:
            refund = await self._call(
                "refund",
                self._client.v1.refunds.create_async(
                    {"payment_intent": charge_id, "amount": amount_minor, "metadata": {KEY_FIELD: idempotency_key}},
                    {"idempotency_key": idempotency_key},
                ),
            )
        except stripe.InvalidRequestError as exc:
            raise RefundRefused(_message(exc, "Stripe refused the refund")) from None
        except stripe.CardError as exc:
            raise RefundRefused(_message(exc, "Stripe refused the refund")) from None
        if refund.status == "failed":
            raise RefundRefused(_plain(refund).get("failure_reason") or "Stripe could not make the refund")
        return Refund(refund.id, charge_id, refund.amount, refund.currency.upper())

    # --- adding a card: Stripe's hosted page -------------------------------------------------------------

    async def start_setup(
        self, *, portal_customer_id: str, success_url: str, cancel_url: str, kind: str = "card"
    ) -> Setup:
        """A Stripe Customer for the card and a Checkout Session in setup mode; the browser is sent to its URL
        (a plain redirect, so the portal's CSP needs no script of Stripe's). `success_url` must contain
        `{CHECKOUT_SESSION_ID}`, which Stripe replaces with the session's id."""
        customer = await self._call(
            "customer",
            self._client.v1.customers.create_async({"metadata": {"portal_customer_id": portal_customer_id}}),
        )
        types = ["us_bank_account"] if kind == "ach" else ["card"]
        try:
            if not self._checkout:
                intent = await self._call(
                    "setup",
                    self._client.v1.setup_intents.create_async(
                        {"customer": customer.id, "usage": "off_session", "payment_method_types": types}
                    ),
                )
                return Setup(intent.id, success_url.replace("{CHECKOUT_SESSION_ID}", intent.id))
            session = await self._call(
                "checkout",
                self._client.v1.checkout.sessions.create_async(
                    {
                        "mode": "setup",
                        "customer": customer.id,
                        "payment_method_types": types,
                        "success_url": success_url,
                        "cancel_url": cancel_url,
                    }
                ),
            )
        except stripe.InvalidRequestError as exc:
            raise ProcessorError(f"Stripe refused the setup: {exc.code or exc.http_status}") from None
        return Setup(session.id, session.url)

    async def finish_setup(self, setup_id: str, *, portal_customer_id: str) -> str:
        """The PaymentMethod a finished setup saved (a Checkout Session's SetupIntent, or a SetupIntent).
        InvalidToken when there is none: an unknown id, a setup not completed, or one started for another
        portal customer (the id comes back through the browser, so it is checked against the Stripe Customer
        billing made for this setup)."""
        try:
            if setup_id.startswith("cs_"):
                session = await self._call(
                    "checkout",
                    self._client.v1.checkout.sessions.retrieve_async(setup_id, {"expand": ["setup_intent"]}),
                )
                intent = session.setup_intent
                if intent is None:
                    raise InvalidToken(setup_id)
                if isinstance(intent, str):
                    intent = await self._call("setup", self._client.v1.setup_intents.retrieve_async(intent))
            else:
                intent = await self._call("setup", self._client.v1.setup_intents.retrieve_async(setup_id))
            owner = intent.customer
            if isinstance(owner, str):
                owner = await self._call("customer", self._client.v1.customers.retrieve_async(owner))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise InvalidToken(setup_id) from None
            raise ProcessorError(f"Stripe refused the look-up: {exc.code or exc.http_status}") from None
        metadata = _plain(owner).get("metadata") or {} if owner is not None else {}
        if metadata.get("portal_customer_id") != portal_customer_id:
            raise InvalidToken(setup_id)
        if intent.status != "succeeded" or not intent.payment_method:
            raise InvalidToken(setup_id)
        pm = intent.payment_method
        pm_id = pm if isinstance(pm, str) else pm.id
        saved = await self._call("payment method", self._client.v1.payment_methods.retrieve_async(pm_id))
        if not saved.customer:
            # Stripe attaches a SetupIntent's PaymentMethod to its Customer when the setup succeeds; the emulator
            # does not, so it is attached here (never reached with Stripe). Off-session charges need the Customer.
            await self._call(
                "attach",
                self._client.v1.payment_methods.attach_async(pm_id, {"customer": owner.id}),
            )
        return pm_id

    # --- webhooks ------------------------------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature: str) -> ProcessorEvent:
        """The event Stripe signed, or WebhookRejected: a missing secret, a bad or stale signature (Stripe's
        `t=…,v1=HMAC-SHA256(secret, "t.payload")`, five minutes of tolerance) or a body that is not an event."""
        if not self._webhook_secret:
            raise WebhookRejected("no webhook signing secret is configured")
        try:
            event = stripe.Webhook.construct_event(payload, signature, self._webhook_secret)
        except stripe.SignatureVerificationError:
            raise WebhookRejected("the signature does not match") from None
        except ValueError:
            raise WebhookRejected("the body is not a Stripe event") from None
        if event.type not in FINISHING_EVENTS:
            return ProcessorEvent(event.id, event.type, "", None)
        intent = _plain(event.data.object)
        key = (intent.get("metadata") or {}).get(KEY_FIELD, "")
        try:
            return ProcessorEvent(event.id, event.type, key, _charge(intent) if key else None)
        except (KeyError, TypeError, ValueError):
            raise WebhookRejected("the event's PaymentIntent is incomplete") from None

    async def close(self) -> None:
        await self._http.close_async()


def _plain(obj: Any) -> dict[str, Any]:
    """The SDK's object as plain dicts (its objects are not dicts: no `.get`)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _details(pm: dict[str, Any]) -> TokenDetails:
    customer = pm.get("customer")
    owner = str(((customer.get("metadata") or {}) if isinstance(customer, dict) else {}).get("portal_customer_id", ""))
    if pm["type"] == "us_bank_account":
        bank = pm["us_bank_account"]
        return TokenDetails("ach", bank.get("bank_name") or "ACH", bank["last4"], 0, 0, owner)
    if pm["type"] != "card":
        raise InvalidToken(pm["id"])
    card = pm["card"]
    return TokenDetails("card", card["brand"], card["last4"], int(card["exp_month"]), int(card["exp_year"]), owner)


def _charge(intent: dict[str, Any]) -> Charge:
    """A decided PaymentIntent as a charge: succeeded, or failed with Stripe's decline or error code."""
    succeeded = intent.get("status") == "succeeded"
    error = intent.get("last_payment_error") or {}
    reason = "" if succeeded else (error.get("decline_code") or error.get("code") or intent.get("status") or "failed")
    return Charge(
        id=intent["id"],
        succeeded=succeeded,
        amount_minor=int(intent["amount"]),
        currency=str(intent["currency"]).upper(),
        failure_reason=reason,
    )


def _declined(exc: stripe.CardError, amount_minor: int, currency: str) -> Charge:
    error = (exc.json_body or {}).get("error", {}) if isinstance(exc.json_body, dict) else {}
    intent = error.get("payment_intent") or {}
    # Stripe names the PaymentIntent in the error; the emulator names only the charge.
    charge_id = (intent.get("id") if isinstance(intent, dict) else "") or error.get("charge") or ""
    reason = error.get("decline_code") or exc.code or "card_declined"
    return Charge(charge_id, False, amount_minor, currency, failure_reason=reason)


def _message(exc: stripe.StripeError, fallback: str) -> str:
    error = exc.json_body.get("error", {}) if isinstance(exc.json_body, dict) else {}
    return str(error.get("message") or fallback)[:200]
