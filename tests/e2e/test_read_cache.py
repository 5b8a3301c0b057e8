"""The gateway's read cache (issue 16) with two gateway replicas on one set of services (the session stack runs two:
`stack.gateway_urls`): a cached section or list is served again, yet

- the user's own write shows on their next view even when that view lands on the other replica (the portal_rv
  cookie the write's answer sets);
- a write by staff through one replica, or straight to a service, shows on both replicas within a second, for each
  home section and list (tickets, invoices, assets, documents, credentials — which announce no event: the other
  replica hears gateway.changed — and remote's access requests);
- a principal whose permissions changed is never served an answer cached for the old ones;
- a contact made straight in identity (no gateway involved) is in the new-ticket form's contact picker on both
  replicas within a second (identity's ContactsChanged).

Each check first proves the answer was cached (the replica's hit counter moves), so it could fail.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import grpc
import httpx

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from portal_local.stack import Stack
from portal_testkit.tls import TLS
from servicekit import permissions as perm
from tests.e2e.billing_world import staff_token as staff_principal_token
from tests.e2e.helpers import api_sign_in
from tests.e2e.test_documents_api import png_bytes

BOUND = 1.0  # seconds for others' writes to show on every replica


def _staff_session(url: str, stack: Stack) -> str:
    r = httpx.post(
        f"{url}/api/v1/staff/sessions",
        json={"login": stack.config.staff_email, "password": stack.config.staff_password},
        timeout=15,
    )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def _lookups(stack: Stack, replica: str, outcome: str) -> float:
    text = httpx.get(stack.metrics_url(replica), timeout=5, verify=TLS).text
    m = re.search(rf'^portal_gateway_read_cache_lookups_total\{{outcome="{outcome}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


class World:
    def __init__(self, stack: Stack) -> None:
        assert len(stack.gateway_urls) == 2, "the session stack runs two gateway replicas"
        self.stack = stack
        self.g1, self.g2 = stack.gateway_urls
        self.staff = httpx.Client(
            base_url=self.g1, headers={"Authorization": f"Bearer {_staff_session(self.g1, stack)}"}, timeout=15
        )
        suffix = secrets.token_hex(4)
        self.login, password = f"cache-{suffix}@cache.test", f"pass-{secrets.token_hex(8)}"
        r = self.staff.post("/api/v1/staff/customers", json={"business_name": f"Cache {suffix}", "email": self.login})
        assert r.status_code == 201, r.text
        self.customer_id = r.json()["id"]
        r = self.staff.post(
            f"/api/v1/staff/customers/{self.customer_id}/portal-users",
            json={"email": self.login, "password": password, "group_name": perm.ADMIN_PORTAL_GROUP},
        )
        assert r.status_code == 201, r.text
        self.user_id = r.json()["id"]
        self.token = api_sign_in(stack, self.login, password)

    def user(self, base: str, **cookies: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return httpx.Client(base_url=base, headers=headers, timeout=15, verify=TLS)

    def ids(self, base: str, path: str, **cookies: str) -> set[str]:
        with self.user(base, **cookies) as c:
            r = c.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        body = r.json()
        # The billing lists answer billing's own message as JSON ({"invoices": [...]}), the others a page of items.
        return {item["id"] for item in body.get("items", body.get("invoices", []))}

    def cached_on_both(self, path: str) -> None:
        """Read `path` on each replica until a read is a hit there (proves the cache serves this list)."""
        for base, name in ((self.g1, "gateway"), (self.g2, "gateway-2")):
            for _ in range(10):
                before = _lookups(self.stack, name, "hit")
                self.ids(base, path)
                self.ids(base, path)
                if _lookups(self.stack, name, "hit") > before:
                    break
            else:
                raise AssertionError(f"{path} was never served from {name}'s cache")

    def shows_within(self, path: str, item_id: str, bound: float = BOUND) -> dict[str, float]:
        """Seconds until each replica lists `item_id` (polled every 20 ms), failing past `bound`."""
        start, seen = time.monotonic(), {}
        while len(seen) < 2:
            for base in (self.g1, self.g2):
                if base not in seen and item_id in self.ids(base, path):
                    seen[base] = time.monotonic() - start
            elapsed = time.monotonic() - start
            assert elapsed <= bound, f"{path}: {item_id} not on {set((self.g1, self.g2)) - set(seen)} after {elapsed}"
            time.sleep(0.02)
        return seen


def test_the_users_own_write_shows_on_the_other_replica_at_once(stack: Stack) -> None:
    w = World(stack)
    w.cached_on_both("/api/v1/tickets")
    with w.user(w.g2) as c:  # the home page too, cached on the second replica
        home = c.get("/", headers={"Cookie": f"portal_session={w.token}"})
        assert home.status_code == 200
    subject = f"Cache write {secrets.token_hex(3)}"
    with w.user(w.g1) as c:
        r = c.post("/api/v1/tickets", json={"subject": subject, "description": "through replica one"})
    assert r.status_code == 201, r.text
    ticket_id = r.json()["id"]
    rv = r.cookies.get("portal_rv") or re.search(r"portal_rv=(\d+)", r.headers.get("set-cookie", "")).group(1)
    # The next view lands on the other replica, carrying the cookie the write set: it shows the ticket.
    assert ticket_id in w.ids(w.g2, "/api/v1/tickets", portal_rv=rv)
    with httpx.Client(base_url=w.g2, timeout=15) as browser:
        page = browser.get("/", headers={"Cookie": f"portal_session={w.token}; portal_rv={rv}"})
    assert page.status_code == 200 and subject in page.text
    # And on the replica that wrote, without any cookie (its own bump).
    assert ticket_id in w.ids(w.g1, "/api/v1/tickets")
    # Whether that view needed the cookie depends on whether the write's events had reached the second replica yet.
    # The cookie's own effect, deterministically: once the events are in (well under a second) and the list is
    # cached there again, a browser that wrote just now skips that cached answer.
    time.sleep(1.5)
    w.ids(w.g2, "/api/v1/tickets")
    w.ids(w.g2, "/api/v1/tickets")
    bypassed = _lookups(stack, "gateway-2", "bypass_recent_write")
    assert ticket_id in w.ids(w.g2, "/api/v1/tickets", portal_rv=str(int(time.time() * 1000)))
    assert _lookups(stack, "gateway-2", "bypass_recent_write") > bypassed


def test_staff_writes_show_on_both_replicas_within_a_second(stack: Stack) -> None:
    w = World(stack)
    tag = secrets.token_hex(3)
    cid = w.customer_id
    writes: list[tuple[str, Callable[[], str]]] = [
        (
            "/api/v1/tickets",
            lambda: w.staff.post(
                "/api/v1/staff/tickets", json={"customer_id": cid, "subject": f"Staff {tag}", "description": "d"}
            ).json()["ticket"]["id"],
        ),
        (
            "/api/v1/invoices",
            lambda: w.staff.post(
                "/api/v1/staff/invoices",
                json={
                    "customer_id": cid,
                    "lines": [{"description": "Labour", "quantity": "1", "unit_price_minor": 900}],
                },
                headers={"Idempotency-Key": secrets.token_hex(12)},
            ).json()["invoice"]["id"],
        ),
        (
            "/api/v1/assets",
            lambda: w.staff.post(f"/api/v1/staff/customers/{cid}/assets", json={"name": f"Laptop {tag}"}).json()["id"],
        ),
        (
            "/api/v1/documents",
            lambda: w.staff.post(
                f"/api/v1/staff/customers/{cid}/documents",
                files={"file": (f"plan-{tag}.png", png_bytes(), "image/png")},
                data={"visibility": "public"},
            ).json()["id"],
        ),
        (
            # No event announces a credential: the other replica learns it from gateway.changed.
            "/api/v1/credentials",
            lambda: w.staff.post(
                "/api/v1/staff/credentials",
                json={"customer_id": cid, "name": f"Router {tag}", "password": "pw", "public": True},
                headers={"Idempotency-Key": secrets.token_hex(12)},
            ).json()["id"],
        ),
    ]
    made: dict[str, str] = {}
    # The remote area: staff ask for a remote access window on that asset for that ticket (the home's section).
    writes.append(
        (
            "/api/v1/access-requests",
            lambda: w.staff.post(
                f"/api/v1/staff/assets/{made['/api/v1/assets']}/access-requests",
                json={"ticket_id": made["/api/v1/tickets"], "reason": f"Check {tag}"},
            ).json()["id"],
        )
    )
    timings = {}
    for path, write in writes:
        w.cached_on_both(path)
        made[path] = write()
        timings[path] = w.shows_within(path, made[path])
    # A write straight to a service, through no gateway: only the service's event tells the replicas.
    w.cached_on_both("/api/v1/tickets")
    with grpc.insecure_channel(stack.grpc_addr("tickets")) as ch:
        ticket = (
            tickets_pb2_grpc.TicketsServiceStub(ch)
            .CreateTicket(
                tickets_pb2.CreateTicketRequest(customer_id=cid, subject=f"Service {tag}", description="d"),
                timeout=10,
                metadata=(("authorization", f"Bearer {staff_principal_token(stack)}"),),
            )
            .ticket
        )
    timings["service"] = w.shows_within("/api/v1/tickets", ticket.id)
    print("seconds until shown on each replica:", timings)


def test_a_changed_permission_set_is_never_served_the_old_answer(stack: Stack) -> None:
    w = World(stack)
    w.cached_on_both("/api/v1/tickets")
    r = w.staff.post(
        "/api/v1/staff/permission-groups",
        json={"name": f"Invoices only {secrets.token_hex(3)}", "permissions": [perm.INVOICES_VIEW_ALL]},
    )
    assert r.status_code == 201, r.text
    r = w.staff.put(f"/api/v1/staff/portal-users/{w.user_id}/group", json={"group_name": r.json()["name"]})
    assert r.status_code == 200, r.text
    # The gateway re-reads the principal within GATEWAY_PRINCIPAL_CACHE_SECONDS (5 s here); from then on neither
    # replica may answer from what it cached for the old permissions.
    start = time.monotonic()
    pending = {w.g1, w.g2}
    while pending:
        for base in list(pending):
            with w.user(base) as c:
                if c.get("/api/v1/tickets").status_code == 403:
                    pending.discard(base)
        assert time.monotonic() - start < 5.0 + BOUND, f"still served tickets on {pending}"
        time.sleep(0.05)
    # And it stays so: no replica falls back to the old answer.
    for base in (w.g1, w.g2):
        with w.user(base) as c:
            assert c.get("/api/v1/tickets").status_code == 403
            assert c.get("/api/v1/invoices").status_code == 200


def _identity_calls(stack: Stack, method: str) -> float:
    text = httpx.get(stack.metrics_url("identity"), timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("portal_identity_grpc_requests_total{") and f'method="{method}"' in line
    )


def test_a_contact_made_straight_in_identity_shows_on_both_replicas_within_a_second(stack: Stack) -> None:
    w = World(stack)

    def picker(base: str) -> str:
        with httpx.Client(base_url=base, timeout=15) as browser:
            r = browser.get("/tickets/new", headers={"Cookie": f"portal_session={w.token}"})
        assert r.status_code == 200, r.text
        return r.text

    staff = staff_principal_token(stack)
    # The new customer's events move every area again 0.3 s and 1 s later (change_feed.DERIVED): past them, the
    # picker is served from each replica's cache (views that ask identity nothing), so only ContactsChanged can
    # bring the new contact within the bound (the entries live 30 s).
    time.sleep(1.1)
    for _ in range(10):
        before = _identity_calls(stack, "ListContacts")
        for base in (w.g1, w.g2, w.g1, w.g2):
            picker(base)
        if _identity_calls(stack, "ListContacts") == before:
            break
    else:
        raise AssertionError("the contact picker was never served from both replicas' caches")
    name = f"Dana {secrets.token_hex(3)}"
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        contact = (
            identity_pb2_grpc.IdentityServiceStub(ch)
            .CreateContact(
                identity_pb2.CreateContactRequest(customer_id=w.customer_id, name=name),
                timeout=10,
                metadata=(("authorization", f"Bearer {staff}"),),
            )
            .contact
        )
    option = f'<option value="{contact.id}"'
    start, seen = time.monotonic(), {}
    while len(seen) < 2:
        for base in (w.g1, w.g2):
            if base not in seen and option in picker(base):
                seen[base] = time.monotonic() - start
        elapsed = time.monotonic() - start
        assert elapsed <= BOUND, f"{name} not in the picker on {set((w.g1, w.g2)) - set(seen)} after {elapsed:.2f} s"
        time.sleep(0.02)
    print("seconds until the contact showed on each replica:", seen)
