"""The Stripe adapter (billing.payments.stripe, the official `stripe` SDK) end to end against localstripe, a stateful
emulator of Stripe's API started as a real process (portal_testkit.localstripe): billing's servicer wired with the
Stripe processor, as BILLING_PAYMENT_PROCESSOR=stripe wires it, over a real socket and the test database.

What the emulator cannot show: Checkout's hosted page (it has no Checkout Sessions), so billing starts a bare
SetupIntent here (`checkout=False`) and the test confirms it with a test card the way Stripe's page does;
everything after — reading the PaymentMethod back, charging it, webhooks — is the production code path.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
import stripe
from aiohttp import web
from sqlalchemy import select

from billing.invoices.models import Invoice
from billing.invoices.service import AllocationInput
from billing.main import NAME, wire
from billing.payments import service as payments
from billing.payments.models import FAILED, PENDING, SUCCEEDED, Payment
from billing.payments.processor import InvalidToken, ProcessorError, RefundRefused
from billing.payments.stripe import KEY_FIELD, StripeProcessor
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from portal_local.ports import free_port
from portal_testkit.localstripe import LocalStripe
from portal_testkit.services import Keys, serve_wired
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, B = "cust-a", "cust-b"
STAFF = Principal(kind=KIND_STAFF, subject_id="admin-1", staff_role="admin")
WEBHOOK_SECRET = "whsec_portal_test_secret"  # noqa: S105 - the test endpoint's signing secret
SUCCESS_URL = "https://portal.test/billing/payment-options/added?setup={CHECKOUT_SESSION_ID}&state=s1"
CANCEL_URL = "https://portal.test/billing/payment-options"
VISA = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"  # attaches, then every charge is declined (Stripe's test card)


def user(customer_id: str, perms: frozenset[str] = frozenset(perm.CATALOGUE)) -> Principal:
    return Principal(kind=KIND_PORTAL_USER, subject_id=f"u-{customer_id}", customer_id=customer_id, permissions=perms)


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="USD")


@dataclass
class Inbox:
    """What localstripe's webhooks delivered: raw body and Stripe-Signature header, as the gateway passes them on."""

    deliveries: list[tuple[bytes, str]] = field(default_factory=list)

    async def event_for(self, intent_id: str, event_type: str, within: float = 15) -> tuple[bytes, str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for body, signature in self.deliveries:
                event = json.loads(body)
                if event["type"] == event_type and event["data"]["object"]["id"] == intent_id:
                    return body, signature
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {event_type} webhook for {intent_id}")


@pytest.fixture(scope="session")
async def stripe_inbox(localstripe: LocalStripe) -> AsyncIterator[Inbox]:
    """A webhook endpoint on a loopback port, registered with localstripe with the test's signing secret."""
    inbox = Inbox()

    async def receive(request: web.Request) -> web.Response:
        inbox.deliveries.append((await request.read(), request.headers.get("Stripe-Signature", "")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhooks/stripe", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    localstripe.register_webhook(
        "portal",
        f"http://127.0.0.1:{port}/webhooks/stripe",
        WEBHOOK_SECRET,
        ["payment_intent.succeeded", "payment_intent.payment_failed"],
    )
    yield inbox
    await runner.cleanup()


@pytest.fixture
async def stripe_processor(localstripe: LocalStripe) -> AsyncIterator[StripeProcessor]:
    proc = StripeProcessor(
        localstripe.api_key, webhook_secret=WEBHOOK_SECRET, base_url=localstripe.url, timeout=10, checkout=False
    )
    yield proc
    await proc.close()


@pytest.fixture
async def stripe_api(localstripe: LocalStripe) -> AsyncIterator[stripe.StripeClient]:
    """The test's own client of the emulator: it plays Stripe's hosted page and reads what billing made."""
    http = stripe.HTTPXClient()
    yield stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url}, http_client=http)
    await http.close_async()


@pytest.fixture
async def stub(
    db: Database, keys: Keys, stripe_processor: StripeProcessor
) -> AsyncIterator[billing_pb2_grpc.BillingServiceStub]:
    """billing as main.wire registers it, with the Stripe processor instead of the sandbox."""
    async with serve_wired(lambda rt: wire(rt, stripe_processor), db, keys.verifier, name=NAME) as served:
        yield billing_pb2_grpc.BillingServiceStub(served.channel)


@pytest.fixture
def as_(keys: Keys):  # noqa: ANN201
    return lambda principal: call_options(keys.token(principal))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def new_invoice(stub, as_, customer: str, amount: int) -> billing_pb2.Invoice:  # noqa: ANN001
    req = billing_pb2.CreateInvoiceRequest(
        customer_id=customer,
        issued_on="2026-01-01",
        currency="USD",
        lines=[billing_pb2.LineInput(description="Labour", quantity="1", unit_price_minor=amount)],
    )
    return (await stub.CreateInvoice(req, **as_(STAFF))).invoice


async def add_card(
    stub, as_, stripe_api: stripe.StripeClient, customer: str, number: str = VISA
) -> billing_pb2.PaymentProfile:  # noqa: ANN001
    """The portal's add-card path: billing starts the setup, the browser goes to Stripe (here: the test confirms
    the SetupIntent with the card as Stripe's page would), Stripe sends it back, billing reads the card."""
    start = billing_pb2.StartAddPaymentMethodRequest(kind="card", success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
    started = await stub.StartAddPaymentMethod(start, **as_(user(customer)))
    back = urlsplit(started.redirect_url)
    (setup_id,) = parse_qs(back.query)["setup"]
    card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    await stripe_api.v1.setup_intents.confirm_async(setup_id, {"payment_method_data": {"type": "card", "card": card}})
    done = billing_pb2.CompleteAddPaymentMethodRequest(setup_id=setup_id, nickname="Office card")
    return (await stub.CompleteAddPaymentMethod(done, **as_(user(customer)))).profile


def pay(key: str, profile_id: str, invoice_id: str, amount: int) -> billing_pb2.MakePaymentRequest:
    return billing_pb2.MakePaymentRequest(
        idempotency_key=key,
        payment_profile_id=profile_id,
        allocations=[billing_pb2.Allocation(invoice_id=invoice_id, amount=usd(amount))],
    )


async def intents_for(stripe_api: stripe.StripeClient, key: str) -> list:
    found = []
    listing = await stripe_api.v1.payment_intents.list_async({"limit": 100})
    async for intent in listing.auto_paging_iter():
        if intent.to_dict().get("metadata", {}).get(KEY_FIELD) == key:
            found.append(intent)
    return found


async def balance(db: Database, invoice_id: str) -> int:
    async with db.unit_of_work() as s:
        return (await s.get(Invoice, invoice_id)).balance_minor


# --- adding a card -------------------------------------------------------------------------------------------


async def test_a_card_is_added_through_a_setup_at_stripe_and_read_back(stub, as_, stripe_api, localstripe):
    listed = await stub.ListPaymentProfiles(billing_pb2.ListPaymentProfilesRequest(), **as_(user(A)))
    # No form of ours posts card fields anywhere: the emulator's setups come back to the portal itself.
    assert listed.hosted_setup and listed.tokenize_url == ""
    start = billing_pb2.StartAddPaymentMethodRequest(kind="card", success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
    started = await stub.StartAddPaymentMethod(start, **as_(user(A)))
    assert started.redirect_url.startswith("https://portal.test/billing/payment-options/added?setup=seti_")
    assert started.redirect_url.endswith("&state=s1")
    (setup_id,) = parse_qs(urlsplit(started.redirect_url).query)["setup"]
    done = billing_pb2.CompleteAddPaymentMethodRequest(setup_id=setup_id, nickname="Office card")

    # Back before the card was entered: nothing to store.
    err = await rpc_error(stub.CompleteAddPaymentMethod(done, **as_(user(A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "setup_id" in err.details()

    card = {"number": VISA, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    await stripe_api.v1.setup_intents.confirm_async(setup_id, {"payment_method_data": {"type": "card", "card": card}})
    # The setup id comes back through the browser: another customer's user cannot take the card with it.
    err = await rpc_error(stub.CompleteAddPaymentMethod(done, **as_(user(B))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    profile = (await stub.CompleteAddPaymentMethod(done, **as_(user(A)))).profile
    assert (profile.kind, profile.brand, profile.last4, profile.exp_month, profile.exp_year) == (
        "card",
        "visa",
        "4242",
        12,
        2030,
    )
    assert profile.nickname == "Office card"
    listed = await stub.ListPaymentProfiles(billing_pb2.ListPaymentProfilesRequest(), **as_(user(A)))
    assert [p.id for p in listed.profiles] == [profile.id]
    # The PaymentMethod is saved on a Stripe Customer billing made for this portal customer.
    intent = await stripe_api.v1.setup_intents.retrieve_async(setup_id)
    customer = await stripe_api.v1.customers.retrieve_async(intent.customer)
    assert customer.metadata.to_dict() == {"portal_customer_id": A}

    # A's PaymentMethod id, should it be seen somewhere, is neither storable nor chargeable by another customer.
    pm = intent.payment_method
    b_invoice = await new_invoice(stub, as_, B, 1_000)
    steal = billing_pb2.AddPaymentProfileRequest(processor_token=pm)
    assert (await rpc_error(stub.AddPaymentProfile(steal, **as_(user(B))))).code() == grpc.StatusCode.INVALID_ARGUMENT
    charge_it = billing_pb2.MakePaymentRequest(
        idempotency_key="steal",
        processor_token=pm,
        allocations=[billing_pb2.Allocation(invoice_id=b_invoice.id, amount=usd(1_000))],
    )
    err = await rpc_error(stub.MakePayment(charge_it, **as_(user(B))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "processor_token" in err.details()
    assert await intents_for(stripe_api, "steal") == []


async def test_add_card_input_is_checked_before_stripe_is_called(stub, as_):
    bad_starts = [
        billing_pb2.StartAddPaymentMethodRequest(kind="cheque", success_url=SUCCESS_URL, cancel_url=CANCEL_URL),
        billing_pb2.StartAddPaymentMethodRequest(kind="card", success_url="javascript:x", cancel_url=CANCEL_URL),
        billing_pb2.StartAddPaymentMethodRequest(kind="card", success_url=CANCEL_URL, cancel_url=CANCEL_URL),
    ]
    for req in bad_starts:
        assert (
            await rpc_error(stub.StartAddPaymentMethod(req, **as_(user(A))))
        ).code() == grpc.StatusCode.INVALID_ARGUMENT
    for setup_id in ("", "seti_../x", "pm_card_visa", "seti_" + "a" * 300, "seti_\x00"):
        req = billing_pb2.CompleteAddPaymentMethodRequest(setup_id=setup_id)
        err = await rpc_error(stub.CompleteAddPaymentMethod(req, **as_(user(A))))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "setup_id" in err.details()
    no_manage = user(A, frozenset())
    start = billing_pb2.StartAddPaymentMethodRequest(kind="card", success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
    assert (
        await rpc_error(stub.StartAddPaymentMethod(start, **as_(no_manage)))
    ).code() == grpc.StatusCode.PERMISSION_DENIED


# --- paying --------------------------------------------------------------------------------------------------


async def test_paying_charges_one_payment_intent_per_key_even_when_sent_at_once(stub, as_, stripe_api, localstripe, db):
    inv = await new_invoice(stub, as_, A, 10_000)
    profile = await add_card(stub, as_, stripe_api, A)
    results = await asyncio.gather(
        *(stub.MakePayment(pay("same", profile.id, inv.id, 2_500), **as_(user(A))) for _ in range(10))
    )
    assert {r.payment.id for r in results} == {results[0].payment.id}
    assert {r.payment.status for r in results} == {SUCCEEDED}
    assert results[0].payment.method == "visa 4242"
    key = f"portal-payment-{results[0].payment.id}"
    (intent,) = await intents_for(stripe_api, key)
    assert (intent.status, intent.amount, intent.currency, intent.payment_method) == (
        "succeeded",
        2_500,
        "usd",
        _pm(intent),
    )
    # The SDK sent billing's key as Stripe's Idempotency-Key (every retry and twin with it).
    assert key in localstripe.idempotency_keys()
    async with db.unit_of_work() as s:
        (payment,) = list(await s.scalars(select(Payment)))
    assert payment.charge_id == intent.id
    assert await balance(db, inv.id) == 7_500


def _pm(intent) -> str:  # noqa: ANN001
    pm = intent.payment_method
    return pm if isinstance(pm, str) else pm.id


async def test_a_declined_card_fails_the_payment_and_leaves_the_balance(stub, as_, stripe_api, stripe_inbox, db):
    inv = await new_invoice(stub, as_, A, 10_000)
    profile = await add_card(stub, as_, stripe_api, A, DECLINED_ON_CHARGE)
    resp = await stub.MakePayment(pay("declined", profile.id, inv.id, 10_000), **as_(user(A)))
    assert resp.payment.status == FAILED
    assert resp.payment.failure_reason == "card_declined"
    assert await balance(db, inv.id) == 10_000
    # Stripe's payment_failed webhook comes after the answer: the payment is recorded once, not twice.
    async with db.unit_of_work() as s:
        charge_id = (await s.get(Payment, resp.payment.id)).charge_id
    assert charge_id.startswith("pi_")
    body, signature = await stripe_inbox.event_for(charge_id, "payment_intent.payment_failed")
    done = await stub.HandleProcessorEvent(billing_pb2.HandleProcessorEventRequest(payload=body, signature=signature))
    assert done.outcome == "already_recorded"


async def test_find_charge_by_key_and_refund(stripe_processor, stripe_api):
    profile_token = await _saved_card(stripe_api)
    charge = await stripe_processor.charge(
        token=profile_token, amount_minor=4_200, currency="USD", idempotency_key="portal-payment-find-1", description=""
    )
    assert charge.succeeded and charge.id.startswith("pi_")
    found = await stripe_processor.find_charge("portal-payment-find-1")
    assert found == charge
    assert await stripe_processor.find_charge("portal-payment-never-charged") is None

    refund = await stripe_processor.refund(
        charge_id=charge.id, amount_minor=1_000, currency="USD", idempotency_key="r-1"
    )
    assert (refund.charge_id, refund.amount_minor, refund.currency) == (charge.id, 1_000, "USD")
    again = await stripe_processor.refund(
        charge_id=charge.id, amount_minor=1_000, currency="USD", idempotency_key="r-1"
    )
    assert again.id == refund.id  # one refund per key

    declined = await stripe_processor.charge(
        token="pm_card_chargeCustomerFail",  # noqa: S106 - Stripe's test PaymentMethod id
        amount_minor=500,
        currency="USD",
        idempotency_key="portal-payment-find-2",
        description="",
    )
    assert not declined.succeeded and declined.failure_reason == "card_declined"
    assert await stripe_processor.find_charge("portal-payment-find-2") == declined
    with pytest.raises(RefundRefused):
        await stripe_processor.refund(charge_id=declined.id, amount_minor=500, currency="USD", idempotency_key="r-2")
    with pytest.raises(RefundRefused):
        await stripe_processor.refund(
            charge_id="pi_doesnotexist", amount_minor=500, currency="USD", idempotency_key="r-3"
        )
    with pytest.raises(InvalidToken):
        await stripe_processor.describe_token("pm_doesnotexist")


async def _saved_card(stripe_api: stripe.StripeClient, number: str = VISA) -> str:
    """A PaymentMethod as Stripe's hosted page makes it."""
    card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    return (await stripe_api.v1.payment_methods.create_async({"type": "card", "card": card})).id


async def test_an_unreachable_stripe_is_a_processor_error_not_a_decline(localstripe):
    proc = StripeProcessor(localstripe.api_key, base_url=f"http://127.0.0.1:{free_port()}", timeout=2, checkout=False)
    try:
        with pytest.raises(ProcessorError):
            await proc.charge(
                token="pm_card_visa",  # noqa: S106 - Stripe's test PaymentMethod id
                amount_minor=100,
                currency="USD",
                idempotency_key="k",
                description="",
            )
        with pytest.raises(ProcessorError):
            await proc.find_charge("k")
    finally:
        await proc.close()


# --- webhooks ------------------------------------------------------------------------------------------------


async def _pending_payment_charged_behind_our_back(db, stripe_processor, stub, as_, stripe_api) -> tuple[str, str, str]:  # noqa: ANN001
    """A payment written pending whose charge was made at Stripe but whose answer billing never recorded (billing
    died during the call): the webhook is what finishes it."""
    inv = await new_invoice(stub, as_, A, 10_000)
    profile = await add_card(stub, as_, stripe_api, A)
    async with db.unit_of_work() as s:
        begun = await payments.begin_payment(
            s,
            principal=user(A),
            idempotency_key=f"crash-{inv.id}",
            allocations=[AllocationInput(inv.id, 10_000)],
            profile_id=profile.id,
        )
        payment_id, token = begun.payment.id, begun.payment.processor_token
    charge = await stripe_processor.charge(
        token=token, amount_minor=10_000, currency="USD", idempotency_key=f"portal-payment-{payment_id}", description=""
    )
    assert charge.succeeded
    return payment_id, inv.id, charge.id


async def test_a_signed_webhook_finishes_the_pending_payment_once(
    db, stripe_processor, stub, as_, stripe_api, stripe_inbox
):
    payment_id, invoice_id, intent_id = await _pending_payment_charged_behind_our_back(
        db, stripe_processor, stub, as_, stripe_api
    )
    async with db.unit_of_work() as s:
        assert (await s.get(Payment, payment_id)).status == PENDING
    # The event exactly as localstripe sent and signed it.
    body, signature = await stripe_inbox.event_for(intent_id, "payment_intent.succeeded")
    request = billing_pb2.HandleProcessorEventRequest(payload=body, signature=signature)
    first = await stub.HandleProcessorEvent(request)  # no principal: the signature is the credential
    assert first.outcome == "recorded" and first.event_id.startswith("evt_")
    async with db.unit_of_work() as s:
        payment = await s.get(Payment, payment_id)
        assert (payment.status, payment.charge_id) == (SUCCEEDED, intent_id)
    assert await balance(db, invoice_id) == 0
    # A redelivery (Stripe retries until it gets a 2xx) changes nothing.
    assert (await stub.HandleProcessorEvent(request)).outcome == "already_recorded"
    assert await balance(db, invoice_id) == 0


async def test_a_forged_or_stale_webhook_is_refused_and_writes_nothing(
    db, stripe_processor, stub, as_, stripe_api, stripe_inbox
):
    payment_id, invoice_id, intent_id = await _pending_payment_charged_behind_our_back(
        db, stripe_processor, stub, as_, stripe_api
    )
    body, signature = await stripe_inbox.event_for(intent_id, "payment_intent.succeeded")
    now = int(time.time())

    def sign(payload: bytes, secret: str, at: int) -> str:
        mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={at},v1={mac}"

    tampered = body.replace(b'"succeeded"', b'"succeeded" ', 1)
    forged = [
        (body, sign(body, "whsec_not_ours", now)),  # signed with another secret
        (tampered, signature),  # the body changed after Stripe signed it
        (body, sign(body, WEBHOOK_SECRET, now - 3600)),  # a replay of an hour-old signature
        (body, ""),  # no signature
        (b"not json", sign(b"not json", WEBHOOK_SECRET, now)),  # signed, but not an event
    ]
    for payload, sig in forged:
        err = await rpc_error(
            stub.HandleProcessorEvent(billing_pb2.HandleProcessorEventRequest(payload=payload, signature=sig))
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "whsec" not in err.details() and WEBHOOK_SECRET not in err.details()
    async with db.unit_of_work() as s:
        assert (await s.get(Payment, payment_id)).status == PENDING
    assert await balance(db, invoice_id) == 10_000

    # Signed by us the way Stripe signs (t=…,v1=HMAC-SHA256 of "t.body"), with the endpoint's secret: accepted.
    ours = await stub.HandleProcessorEvent(
        billing_pb2.HandleProcessorEventRequest(payload=body, signature=sign(body, WEBHOOK_SECRET, now))
    )
    assert ours.outcome == "recorded"
    assert await balance(db, invoice_id) == 0


async def test_events_for_no_payment_of_ours_are_ignored(stub, stripe_processor):
    now = int(time.time())
    for event in (
        {
            "id": "evt_1",
            "object": "event",
            "type": "customer.created",
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        },
        {
            "id": "evt_2",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": "pi_x",
                    "object": "payment_intent",
                    "amount": 100,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {KEY_FIELD: "portal-payment-unknown"},
                }
            },
        },
    ):
        body = json.dumps(event).encode()
        mac = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
        resp = await stub.HandleProcessorEvent(
            billing_pb2.HandleProcessorEventRequest(payload=body, signature=f"t={now},v1={mac}")
        )
        assert resp.outcome == "ignored"


async def test_with_the_sandbox_there_is_no_hosted_setup_and_no_webhook(db, keys, processor, as_):
    """The sandbox path is unchanged: cards go through its form; a webhook finds no processor to verify it."""
    async with serve_wired(lambda rt: wire(rt, processor), db, keys.verifier, name=NAME) as served:
        sandboxed = billing_pb2_grpc.BillingServiceStub(served.channel)
        listed = await sandboxed.ListPaymentProfiles(billing_pb2.ListPaymentProfilesRequest(), **as_(user(A)))
        assert not listed.hosted_setup and listed.tokenize_url.endswith("/v1/tokens")
        start = billing_pb2.StartAddPaymentMethodRequest(kind="card", success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
        err = await rpc_error(sandboxed.StartAddPaymentMethod(start, **as_(user(A))))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        event = billing_pb2.HandleProcessorEventRequest(payload=b"{}", signature="t=1,v1=00")
        assert (await rpc_error(sandboxed.HandleProcessorEvent(event))).code() == grpc.StatusCode.NOT_FOUND
