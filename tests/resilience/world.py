"""Mixed traffic for the resilience tests, and the checks of its effects.

One portal customer (its own, made fresh) and one staff member do, round after round, through the gateway's JSON
API: the customer opens a ticket (Idempotency-Key), staff invoice that ticket (Idempotency-Key), the customer
comments on it, staff reply publicly, and the customer pays a few cents of a large invoice with a stored card
(Idempotency-Key, a distinct amount per round). Each write is retried the way a client would: with the same key
when it has one, and, for a comment (no key), only after reading the ticket's comments shows it was not made.

Every attempt is recorded (status, content type, detail, time taken), so a test can say what a write answered
during the fault; `verify()` then checks every effect the consumers make happened exactly once:

- a ticket per round, with the customer's comment and the staff reply once each;
- the "Invoiced INV-…" marker on each ticket (billing's invoice_created → tickets' consumer);
- per ticket one "ticket received" email and one "New reply" email (tickets' events → identity's consumers →
  identity's mail outbox → SMTP catcher);
- per payment one receipt email (billing's payment_succeeded → identity), and one charge at the sandbox processor
  for each payment (nothing charged twice, nothing charged that is not a payment, unless refunded).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from portal_local.stack import Stack
from portal_testkit.tls import TLS
from servicekit import i18n
from tests.e2e.billing_world import new_customer, staff_token

BIG_INVOICE = 10_000_000  # minor units: enough for every round's payment
RETRY_PAUSE = 0.5
# The gateway's backend deadline is 5 s; an answer later than this is a hang, not a clear failure.
ANSWER_BOUND = 12.0


@dataclass
class Attempt:
    what: str
    at: float  # seconds since the traffic started
    status: int  # 0: no HTTP answer (transport error)
    elapsed: float
    content_type: str = ""
    detail: str = ""


@dataclass
class Round:
    i: int
    subject: str
    comment: str
    reply: str
    amount: int
    ticket_id: str = ""
    invoice_number: str = ""
    done: bool = False


@dataclass
class Traffic:
    stack: Stack
    customer_session: str
    staff_session: str
    customer_id: str
    login: str
    profile_id: str
    big_invoice: str
    sandbox_url: str
    pause: float = 0.2  # between rounds
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    rounds: list[Round] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    _t0: float = 0.0
    _charges_before: set[str] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None

    # -- setting up ------------------------------------------------------------------------------------

    @classmethod
    def make(cls, stack: Stack) -> Traffic:
        customer = new_customer(stack, staff_token(stack))
        with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as c:
            r = c.post("/api/v1/sessions", json={"login": customer.login, "password": customer.password})
            assert r.status_code == 201, r.text
            session = r.json()["session_token"]
            r = c.post(
                "/api/v1/staff/sessions",
                json={"login": stack.config.staff_email, "password": stack.config.staff_password},
            )
            assert r.status_code == 201, r.text
            staff = r.json()["session_token"]
            tokenize_url = c.get("/api/v1/payment-profiles", headers=_bearer(session)).json()["tokenize_url"]
            card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031"}
            token = httpx.post(tokenize_url, data=card, trust_env=False).json()["id"]
            r = c.post("/api/v1/payment-profiles", json={"processor_token": token}, headers=_bearer(session))
            assert r.status_code == 201, r.text
            profile = r.json()["profile"]["id"]
            r = c.post(
                "/api/v1/staff/invoices",
                headers={**_bearer(staff), "Idempotency-Key": f"big-{uuid.uuid4().hex}"},
                json={
                    "customer_id": customer.customer_id,
                    "lines": [{"description": "Managed services", "unit_price_minor": BIG_INVOICE}],
                },
            )
            assert r.status_code == 201, r.text
            big = r.json()["invoice"]["id"]
        return cls(
            stack=stack,
            customer_session=session,
            staff_session=staff,
            customer_id=customer.customer_id,
            login=customer.login,
            profile_id=profile,
            big_invoice=big,
            sandbox_url=tokenize_url.split("/v1/")[0],
        )

    # -- running ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._charges_before = {c["id"] for c in self.charges()}
        self._t0 = time.monotonic()
        self._task = asyncio.create_task(self._loop())

    async def stop(self, limit: float = 120.0) -> None:
        """Finish the round under way (its retries included) and stop."""
        self._stop.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, limit)

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def _loop(self) -> None:
        async with httpx.AsyncClient(base_url=self.stack.gateway_url, timeout=30, trust_env=False) as http:
            i = 0
            while not self._stop.is_set():
                r = Round(
                    i,
                    subject=f"fault {self.run} #{i:03d}",
                    comment=f"customer comment {self.run}-{i:03d}",
                    reply=f"staff reply {self.run}-{i:03d}",
                    amount=101 + i,
                )
                self.rounds.append(r)
                await self._round(http, r)
                r.done = True
                i += 1
                await asyncio.sleep(self.pause)

    async def _round(self, http: httpx.AsyncClient, r: Round) -> None:
        customer, staff = _bearer(self.customer_session), _bearer(self.staff_session)
        resp = await self._until_done(
            "ticket",
            lambda: http.post(
                "/api/v1/tickets",
                headers={**customer, "Idempotency-Key": f"ticket-{self.run}-{r.i:04d}"},
                json={"subject": r.subject, "description": "Mixed traffic under a fault."},
            ),
        )
        r.ticket_id = resp.json()["id"]
        resp = await self._until_done(
            "invoice",
            lambda: http.post(
                "/api/v1/staff/invoices",
                headers={**staff, "Idempotency-Key": f"invoice-{self.run}-{r.i:04d}"},
                json={
                    "customer_id": self.customer_id,
                    "ticket_id": r.ticket_id,
                    "lines": [{"description": f"Work on {r.subject}", "unit_price_minor": 5_000}],
                },
            ),
        )
        r.invoice_number = resp.json()["invoice"]["number"]
        await self._until_done(
            "comment",
            lambda: http.post(f"/api/v1/tickets/{r.ticket_id}/comments", headers=customer, json={"body": r.comment}),
            made=lambda: self._has_comment(http, r.ticket_id, r.comment),
        )
        await self._until_done(
            "reply",
            lambda: http.post(f"/api/v1/staff/tickets/{r.ticket_id}/comments", headers=staff, json={"body": r.reply}),
            made=lambda: self._has_comment(http, r.ticket_id, r.reply),
        )
        for again in range(3):
            key = f"payment-{self.run}-{r.i:04d}-{again}"
            resp = await self._until_done(
                "payment",
                lambda key=key: http.post(
                    "/api/v1/payments",
                    headers={**customer, "Idempotency-Key": key},
                    json={
                        "payment_profile_id": self.profile_id,
                        "allocations": [{"invoice_id": self.big_invoice, "amount_minor": r.amount}],
                    },
                ),
            )
            if await self._settled(http, resp.json()["payment"]) == "succeeded":
                return
        raise AssertionError(f"payment of round {r.i} never succeeded")

    async def _settled(self, http: httpx.AsyncClient, payment: dict) -> str:
        """The payment's final status. One whose answer a killed billing lost stays pending until billing's
        reconciler records it (charged) or voids it (never charged); a client checks it, and pays again if voided."""
        deadline = time.monotonic() + 60
        while payment["status"] == "pending" and time.monotonic() < deadline:
            await asyncio.sleep(0.25)  # the round waits on this answer: ask often, within the same bound
            try:
                resp = await http.post(
                    f"/api/v1/payments/{payment['id']}/check", headers=_bearer(self.customer_session)
                )
            except httpx.TransportError:
                continue
            if resp.status_code == 200:
                payment = resp.json().get("payment", payment)
        return str(payment["status"])

    async def _has_comment(self, http: httpx.AsyncClient, ticket_id: str, body: str) -> bool | None:
        """Whether the comment exists; None when that cannot be read now."""
        try:
            resp = await http.get(
                f"/api/v1/tickets/{ticket_id}/comments",
                headers=_bearer(self.customer_session),
                params={"page_size": 100},
            )
        except httpx.TransportError:
            return None
        if resp.status_code != 200:
            return None
        return any(c["body"] == body for c in resp.json()["items"])

    async def _until_done(self, what: str, send, made=None) -> httpx.Response:  # noqa: ANN001
        """Send until a 2xx answer; with `made`, an unanswered write is sent again only once it is known not made."""
        while True:
            start = time.monotonic()
            try:
                resp = await send()
            except httpx.TransportError as exc:
                self.attempts.append(Attempt(what, self.now(), 0, time.monotonic() - start, detail=repr(exc)))
            else:
                ctype = resp.headers.get("content-type", "")
                detail = ""
                if resp.status_code >= 300 and ctype.startswith("application/problem+json"):
                    detail = str(resp.json().get("detail", ""))
                elif resp.status_code >= 300:
                    detail = resp.text[:200]
                took = time.monotonic() - start
                self.attempts.append(Attempt(what, self.now(), resp.status_code, took, ctype, detail))
                if resp.status_code < 300:
                    return resp
            if made is not None and await self._known_made(made):
                return resp  # made before the answer was lost: not sent again
            await asyncio.sleep(RETRY_PAUSE)

    async def _known_made(self, made) -> bool:  # noqa: ANN001
        """Ask `made` until it can tell (the backend that knows may be down for a while)."""
        for _ in range(240):
            known = await made()
            if known is not None:
                return known
            await asyncio.sleep(RETRY_PAUSE)
        raise AssertionError("could not learn within 2 minutes whether a write was made")

    # -- what happened ---------------------------------------------------------------------------------

    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if not 200 <= a.status < 300]

    def unclear(self) -> list[Attempt]:
        """Failed attempts that were not a clear, timely 503 problem+json with a detail."""
        return [
            a
            for a in self.failures()
            if a.status != 503
            or not a.content_type.startswith("application/problem+json")
            or not a.detail
            or a.elapsed > ANSWER_BOUND
        ]

    def mails(self) -> list[dict]:
        return httpx.get(f"{self.stack.mail_url}/api/messages", timeout=10, trust_env=False).json()

    def charges(self) -> list[dict]:
        return httpx.get(f"{self.sandbox_url}/v1/charges", timeout=10, trust_env=False, verify=TLS).json()["data"]

    def _effects(self) -> dict[str, Counter]:
        rounds = [r for r in self.rounds if r.done]
        ours = [m for m in self.mails() if self.login in m["rcpt_to"]]
        received, replies, receipts = Counter(), Counter(), Counter()
        for m in ours:
            for r in rounds:
                if m["subject"].endswith(r.subject):
                    (replies if "New reply" in m["subject"] else received)[r.i] += 1
                    if "New reply" in m["subject"]:
                        assert r.reply in m["text"], m["text"]
            if "Payment received" in m["subject"]:
                receipts[m["subject"]] += 1
        charged = Counter(
            c["amount"]
            for c in self.charges()
            if c["id"] not in self._charges_before and c["status"] == "succeeded" and c["amount_refunded"] < c["amount"]
        )
        return {"received": received, "replies": replies, "receipts": receipts, "charged": charged}

    def verify(self, limit: float = 90.0) -> dict[str, int]:
        """Wait for every effect of every write, then check each happened exactly once; returns the counts."""
        rounds = [r for r in self.rounds if r.done]
        assert rounds, "no round of traffic finished"
        n = len(rounds)
        deadline = time.monotonic() + limit
        while True:
            e = self._effects()
            complete = all(len(e[k]) >= n for k in e)
            if complete or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(3)  # a duplicate would arrive within the redelivery window
        e = self._effects()
        summary = {k: sum(v.values()) for k, v in e.items()}
        assert set(e["received"]) == {r.i for r in rounds}, f"ticket received emails: {summary}, {n} tickets"
        assert set(e["replies"]) == {r.i for r in rounds}, f"reply emails: {summary}, {n} replies"
        assert set(e["received"].values()) == {1}, e["received"].most_common(3)
        assert set(e["replies"].values()) == {1}, e["replies"].most_common(3)
        expected = {f"Payment received: {i18n.money(r.amount, 'USD', 'en')}" for r in rounds}
        assert set(e["receipts"]) == expected and set(e["receipts"].values()) == {1}, (
            f"missing {sorted(expected - set(e['receipts']))}, unexpected {sorted(set(e['receipts']) - expected)}, "
            f"twice {[k for k, v in e['receipts'].items() if v > 1]}; {n} rounds"
        )
        amounts = {r.amount for r in rounds}
        assert set(e["charged"]) == amounts and set(e["charged"].values()) == {1}, e["charged"].most_common(3)
        self._verify_tickets(rounds)
        return {"rounds": n, **summary}

    def _verify_tickets(self, rounds: list[Round]) -> None:
        customer = _bearer(self.customer_session)
        with httpx.Client(base_url=self.stack.gateway_url, timeout=15, trust_env=False) as c:
            listed = c.get("/api/v1/tickets", headers=customer, params={"q": f"fault {self.run}", "page_size": 100})
            assert listed.status_code == 200, listed.text
            items = listed.json()["items"]
            assert sorted(t["subject"] for t in items) == sorted(r.subject for r in rounds)
            paid = c.get(f"/api/v1/invoices/{self.big_invoice}", headers=customer).json()["invoice"]
            assert paid["balance_due"]["amount_minor"] == BIG_INVOICE - sum(r.amount for r in rounds)
            deadline = time.monotonic() + 30
            for r in rounds:
                while True:
                    got = c.get(f"/api/v1/tickets/{r.ticket_id}", headers=customer).json()
                    if got.get("invoice_number") == r.invoice_number or time.monotonic() > deadline:
                        break
                    time.sleep(0.3)
                assert got.get("invoice_number") == r.invoice_number, (r.subject, got.get("invoice_number"))
                bodies = Counter(
                    x["body"]
                    for x in c.get(
                        f"/api/v1/tickets/{r.ticket_id}/comments", headers=customer, params={"page_size": 100}
                    ).json()["items"]
                )
                assert bodies == Counter({r.comment: 1, r.reply: 1}), (r.subject, bodies)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def home_sections(stack: Stack, session: str) -> tuple[int, dict[str, bool]]:
    """The portal home's status and, per section heading id, whether it shows "unavailable"."""
    resp = httpx.get(
        stack.gateway_url + "/",
        headers={"Cookie": f"portal_session={session}"},
        timeout=15,
        trust_env=False,
        verify=TLS,
    )
    out: dict[str, bool] = {}
    for part in resp.text.split("<section")[1:]:
        head = part.split('aria-labelledby="', 1)
        if len(head) == 2:
            out[head[1].split('"', 1)[0]] = "notice unavailable" in part.split("</section>", 1)[0]
    return resp.status_code, out
