"""Test doubles for the five backends: real grpc.aio servers on localhost serving canned data.

They stand in for the services being written in parallel, so the gateway is tested over real gRPC
(deadlines, metadata, status codes) without them. Cross-service tests live in the root tests/.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from gateway.config import Settings
from gateway.main import create_app
from portal.assets.v1 import assets_pb2, assets_pb2_grpc, documents_pb2, documents_pb2_grpc
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2, search_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from servicekit import permissions as perm

CUSTOMER_A = "cus-a"
CUSTOMER_B = "cus-b"
TS_CREATED = 1_735_725_600  # 2025-01-01 10:00 UTC
TS_UPDATED = 1_736_332_200  # 2025-01-08 10:30 UTC

ALL_PERMISSIONS = sorted(perm.CATALOGUE)


def ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class User:
    login: str
    password: str
    principal: common_pb2.Principal

    @property
    def audience(self) -> int:
        staff = self.principal.kind == common_pb2.PRINCIPAL_KIND_STAFF
        return identity_pb2.AUDIENCE_STAFF if staff else identity_pb2.AUDIENCE_PORTAL


@dataclass
class World:
    """The canned data every fake shares, plus counters the tests read."""

    users: dict[str, User] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, common_pb2.Principal] = field(default_factory=dict)
    principal_tokens: dict[str, common_pb2.Principal] = field(default_factory=dict)
    tickets: list[tickets_pb2.Ticket] = field(default_factory=list)
    idempotency: dict[tuple[str, str], tickets_pb2.Ticket] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    last_client_address: str = ""
    # What remote answers for script runs: none, as the real product today (nothing creates runs until issue 14).
    script_runs: list[remote_pb2.ScriptRun] = field(default_factory=list)
    # Customer A's stored payment options (none unless a test adds some).
    payment_profiles: list[billing_pb2.PaymentProfile] = field(default_factory=list)
    # What billing lists as the sandbox processor's test cards (none: a real processor).
    test_cards: list[billing_pb2.TestCard] = field(default_factory=list)
    # Subject ids whose two-step verification is on (ResolveSessionResponse.mfa_enabled).
    mfa_enabled: set[str] = field(default_factory=set)
    # (login, language) of each RequestPasswordReset identity was asked for.
    reset_requests: list[tuple[str, str]] = field(default_factory=list)
    # Customer A's open estimate (est-1), which the pages may approve or decline.
    estimates: dict[str, billing_pb2.Estimate] = field(
        default_factory=lambda: {
            "est-1": billing_pb2.Estimate(
                id="est-1",
                number="EST-0007",
                customer_id=CUSTOMER_A,
                name="New firewall",
                status="open",
                sent_on="2025-01-20",
                total=common_pb2.Money(amount_minor=90000, currency="USD"),
            )
        }
    )
    # Customer A's two devices; a test may rename one (the remote URL template's quoting).
    assets: list[assets_pb2.Asset] = field(default_factory=list)
    # SPEC C3 per customer, as identity gives it to the customer's own portal users.
    remote_access: dict[str, bool] = field(default_factory=dict)
    # What the fake remote answers (issue 14): the tests of the real rules are the remote service's own.
    agents: list[remote_pb2.Agent] = field(default_factory=list)
    scripts: list[remote_pb2.Script] = field(default_factory=list)
    access_requests: list[remote_pb2.AccessRequest] = field(default_factory=list)
    remote_sessions: list[remote_pb2.RemoteSession] = field(default_factory=list)
    # StartScriptRun answers FAILED_PRECONDITION "device offline" while this is set.
    device_offline: bool = False
    # How long billing's Search takes (a slow service meets the gateway's search deadline).
    billing_search_delay: float = 0.0

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


def _principal(subject: str, customer: str, name: str, permissions: list[str]) -> common_pb2.Principal:
    return common_pb2.Principal(
        kind=common_pb2.PRINCIPAL_KIND_PORTAL_USER,
        subject_id=subject,
        customer_id=customer,
        contact_id=f"ctc-{subject}",
        permissions=permissions,
        customer_ids=[customer],
        display_name=name,
        email=f"{subject}@example.com",
        session_id=f"sess-{subject}",
    )


def make_world() -> World:
    w = World()
    w.customers = {CUSTOMER_A: "Acme Dental Clinic", CUSTOMER_B: "Globex Corporation"}
    w.remote_access = {CUSTOMER_A: True, CUSTOMER_B: False}
    w.assets = [
        assets_pb2.Asset(
            id="ast-1", customer_id=CUSTOMER_A, name="Reception PC", serial_number="SN-77A1", asset_type="Desktop"
        ),
        assets_pb2.Asset(
            id="ast-2", customer_id=CUSTOMER_A, name="Front-desk printer", serial_number="HP-4410", asset_type="Printer"
        ),
    ]
    w.agents = [
        remote_pb2.Agent(
            id="agt-1",
            asset_id="ast-1",
            customer_id=CUSTOMER_A,
            hostname="reception",
            online=True,
            last_seen_at=ts(TS_UPDATED),
        ),
        remote_pb2.Agent(
            id="agt-2",
            asset_id="ast-2",
            customer_id=CUSTOMER_A,
            hostname="printer",
            online=False,
            last_seen_at=ts(TS_UPDATED),
        ),
    ]
    w.scripts = [
        remote_pb2.Script(
            id="scr-1",
            name="flush-dns",
            language="shell",
            portal=True,
            portal_name="Fix my internet",
            portal_confirmation="This clears the device's DNS cache.",
        )
    ]
    w.access_requests = [
        remote_pb2.AccessRequest(
            id="req-1",
            customer_id=CUSTOMER_A,
            asset_id="ast-1",
            ticket_id="tkt-1",
            requested_by="Tess Tech",
            reason="Check the <printer> driver",
            window_minutes=30,
            status="pending",
            requested_at=ts(TS_UPDATED),
        )
    ]
    for login, customer, name, perms in [
        ("alice@acme.test", CUSTOMER_A, "Alice Martin", ALL_PERMISSIONS),
        ("bob@acme.test", CUSTOMER_A, "Bob Stone", [perm.TICKETS_VIEW_MINE]),
        ("carol@globex.test", CUSTOMER_B, "Carol Diaz", ALL_PERMISSIONS),
    ]:
        w.users[login] = User(login, "correct horse", _principal(login.split("@")[0], customer, name, perms))
    w.users["tech@northwind.test"] = User(
        "tech@northwind.test",
        "correct horse",
        common_pb2.Principal(
            kind=common_pb2.PRINCIPAL_KIND_STAFF, subject_id="tech", display_name="Tess Tech", session_id="s-tech"
        ),
    )
    for i, (customer, subject, status, contact, issue_type) in enumerate(
        [
            (CUSTOMER_A, "Printer on 2nd floor jams", "open", "Alice Martin", "Hardware"),
            (CUSTOMER_A, "VPN drops every hour", "in_progress", "", "Network"),
            (CUSTOMER_B, "Globex mail server down", "open", "Carol Diaz", "Email"),
        ],
        start=1,
    ):
        w.tickets.append(
            tickets_pb2.Ticket(
                id=f"tkt-{i}",
                number=1000 + i,
                customer_id=customer,
                contact_id=f"ctc-{contact.split()[0].lower()}" if contact else "",
                contact_name=contact,
                issue_type=issue_type,
                subject=subject,
                description=f"Details of {subject}.\nSecond line.",
                status=status,
                priority="normal",
                created_at=ts(TS_CREATED),
                updated_at=ts(TS_UPDATED),
                created_by="u",
            )
        )
    return w


def _principal_of(world: World, context: grpc.aio.ServicerContext) -> common_pb2.Principal | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.startswith("Bearer "):
            return world.principal_tokens.get(value.removeprefix("Bearer "))
    return None


async def _require(world: World, context: grpc.aio.ServicerContext) -> common_pb2.Principal:
    p = _principal_of(world, context)
    if p is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "this call needs a principal token")
    return p


class FakeIdentity(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, world: World) -> None:
        self.w = world

    async def RequestPasswordReset(self, request, context):
        self.w.count("RequestPasswordReset")
        self.w.reset_requests.append((request.login, request.language))
        return identity_pb2.RequestPasswordResetResponse()

    async def SignIn(self, request, context):
        self.w.count("SignIn")
        self.w.last_client_address = request.client_address
        user = self.w.users.get(request.login)
        if user is None or user.password != request.password or user.audience != request.audience:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong login or password")
        token = f"st-{user.principal.subject_id}-{len(self.w.sessions)}"
        self.w.sessions[token] = user.principal
        return identity_pb2.SignInResponse(
            session_token=token, expires_at=ts(int(time.time()) + 3600), principal=user.principal
        )

    async def ResolveSession(self, request, context):
        self.w.count("ResolveSession")
        p = self.w.sessions.get(request.session_token)
        if p is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "session expired or signed out")
        ptoken = f"pt-{request.session_token}"
        self.w.principal_tokens[ptoken] = p
        return identity_pb2.ResolveSessionResponse(
            principal=p,
            principal_token=ptoken,
            token_expires_at=ts(int(time.time()) + 300),
            mfa_enabled=p.subject_id in self.w.mfa_enabled,
        )

    async def SignOut(self, request, context):
        self.w.count("SignOut")
        self.w.sessions.pop(request.session_token, None)
        return identity_pb2.SignOutResponse()

    async def ListCustomers(self, request, context):
        self.w.count("ListCustomers")
        p = await _require(self.w, context)
        if p.kind != common_pb2.PRINCIPAL_KIND_STAFF:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "staff only")
        return identity_pb2.ListCustomersResponse(
            customers=[identity_pb2.Customer(id=k, display_name=v) for k, v in self.w.customers.items()]
        )

    async def GetCustomer(self, request, context):
        self.w.count("GetCustomer")
        p = await _require(self.w, context)
        staff = p.kind == common_pb2.PRINCIPAL_KIND_STAFF
        if request.customer_id not in (self.w.customers if staff else p.customer_ids):
            await context.abort(grpc.StatusCode.NOT_FOUND, "customer not found")
        name = self.w.customers[request.customer_id]
        settings = identity_pb2.CustomerSettings(remote_access_enabled=self.w.remote_access.get(request.customer_id))
        return identity_pb2.GetCustomerResponse(
            customer=identity_pb2.Customer(
                id=request.customer_id, business_name=name, display_name=name, settings=settings
            )
        )

    async def ListContacts(self, request, context):
        self.w.count("ListContacts")
        p = await _require(self.w, context)
        if p.kind != common_pb2.PRINCIPAL_KIND_STAFF:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "staff only")
        if request.customer_id not in self.w.customers:
            await context.abort(grpc.StatusCode.NOT_FOUND, "customer not found")
        return identity_pb2.ListContactsResponse(
            contacts=[
                identity_pb2.Contact(id=who.contact_id, customer_id=who.customer_id, name=who.display_name)
                for who in (u.principal for u in self.w.users.values())
                if who.customer_id == request.customer_id
            ]
        )


def _decode_cursor(cursor: str) -> int | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        return -1
    return values[0] if isinstance(values, list) and len(values) == 1 else -1


class FakeTickets(tickets_pb2_grpc.TicketsServiceServicer):
    def __init__(self, world: World) -> None:
        self.w = world

    async def Search(self, request, context):
        """Global search over the canned tickets by subject, the principal's customer's only (staff: all)."""
        self.w.count("tickets.Search")
        p = await _require(self.w, context)
        staff = p.kind == common_pb2.PRINCIPAL_KIND_STAFF
        words = request.query.query.lower().split()
        hits = [
            search_pb2.SearchHit(
                kind="ticket", id=t.id, title=f"#{t.number} {t.subject}", snippet=t.subject, customer_id=t.customer_id
            )
            for t in self.w.tickets
            if (staff or t.customer_id == p.customer_id) and all(w in t.subject.lower() for w in words)
        ]
        return tickets_pb2.SearchResponse(results=search_pb2.SearchResults(hits=hits))

    async def ListTickets(self, request, context):
        self.w.count("ListTickets")
        p = await _require(self.w, context)
        after = _decode_cursor(request.page.cursor)
        if after == -1:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "cursor: the cursor is malformed; start again from the first page"
            )
        staff = p.kind == common_pb2.PRINCIPAL_KIND_STAFF
        rows = [t for t in reversed(self.w.tickets) if staff or t.customer_id in p.customer_ids]
        if request.open_only:
            rows = [t for t in rows if t.status != "closed"]
        if after is not None:
            rows = [t for t in rows if t.number < after]
        size = request.page.page_size or 25
        page, more = rows[:size], len(rows) > size
        cursor = base64.urlsafe_b64encode(json.dumps([page[-1].number]).encode()).decode() if more else ""
        return tickets_pb2.ListTicketsResponse(tickets=page, page=common_pb2.PageResponse(next_cursor=cursor))

    async def GetTicket(self, request, context):
        self.w.count("GetTicket")
        p = await _require(self.w, context)
        for t in self.w.tickets:
            if t.id == request.ticket_id and t.customer_id in p.customer_ids:
                return tickets_pb2.GetTicketResponse(ticket=t)
        await context.abort(grpc.StatusCode.NOT_FOUND, "ticket not found")

    async def ListComments(self, request, context):
        self.w.count("ListComments")
        await self.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=request.ticket_id), context)
        return tickets_pb2.ListCommentsResponse()

    async def ListAttachments(self, request, context):
        self.w.count("ListAttachments")
        await self.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=request.ticket_id), context)
        return tickets_pb2.ListAttachmentsResponse()

    async def CreateTicket(self, request, context):
        self.w.count("CreateTicket")
        p = await _require(self.w, context)
        if not request.subject.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "subject: must not be empty")
        if request.priority and request.priority not in ("low", "normal", "high", "urgent"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "priority: unknown priority")
        key = (p.subject_id, request.idempotency_key)
        if request.idempotency_key and key in self.w.idempotency:
            return tickets_pb2.CreateTicketResponse(ticket=self.w.idempotency[key])
        number = 1000 + len(self.w.tickets) + 1
        staff = p.kind == common_pb2.PRINCIPAL_KIND_STAFF
        t = tickets_pb2.Ticket(
            id=f"tkt-{len(self.w.tickets) + 1}",
            number=number,
            customer_id=request.customer_id if staff else p.customer_id,
            contact_id=request.contact_id if staff else p.contact_id,
            # Like the tickets service: staff give the contact's name, a portal user's contact is its own.
            contact_name=request.contact_name if staff else (p.display_name if p.contact_id else ""),
            subject=request.subject,
            description=request.description,
            status="new",
            priority=request.priority or "normal",
            issue_type=request.issue_type,
            asset_id=request.asset_id,
            created_at=ts(int(time.time())),
            updated_at=ts(int(time.time())),
            created_by=p.subject_id,
        )
        self.w.tickets.append(t)
        if request.idempotency_key:
            self.w.idempotency[key] = t
        return tickets_pb2.CreateTicketResponse(ticket=t)


class FakeBilling(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, world: World) -> None:
        self.w = world

    async def Search(self, request, context):
        """Global search: the customer's one invoice whose number or name holds the query (assets has no Search in
        these fakes: it answers UNIMPLEMENTED, as a service not yet upgraded would)."""
        self.w.count("billing.Search")
        p = await _require(self.w, context)
        await asyncio.sleep(self.w.billing_search_delay)
        customers = [p.customer_id] if p.customer_id else [CUSTOMER_A]
        hits = [
            search_pb2.SearchHit(kind="invoice", id="inv-1", title="INV-0042", snippet="Labour", customer_id=c)
            for c in customers
            if request.query.query.lower() in "inv-0042 labour"
        ]
        # A payment's title is its method as billing records it: the processor's brand spelling.
        hits += [
            search_pb2.SearchHit(kind="payment", id="pay-1", title="visa 4242", snippet="$40.00", customer_id=c)
            for c in customers
            if request.query.query.lower() == "visa"
        ]
        return billing_pb2.SearchResponse(results=search_pb2.SearchResults(hits=hits))

    async def GetPortalSummary(self, request, context):
        self.w.count("GetPortalSummary")
        p = await _require(self.w, context)
        has = set(p.permissions).__contains__
        resp = billing_pb2.GetPortalSummaryResponse(
            overview_shown=has(perm.ACCOUNT_OVERVIEW_VIEW),
            invoices_shown=has(perm.INVOICES_VIEW_ALL) or has(perm.INVOICES_VIEW_MINE),
            payments_shown=has(perm.PAYMENTS_VIEW_ALL) or has(perm.PAYMENTS_VIEW_MINE),
            estimates_shown=has(perm.ESTIMATES_VIEW_ALL) or has(perm.ESTIMATES_VIEW_MINE),
        )
        if resp.invoices_shown:
            resp.open_invoices.extend(_open_invoices(p))
        if resp.overview_shown:
            owed = sum(i.balance_due.amount_minor for i in resp.open_invoices if i.balance_due.currency == "USD")
            resp.invoice_balance.CopyFrom(common_pb2.Money(amount_minor=owed, currency="USD"))
            resp.credit_balance.CopyFrom(common_pb2.Money(amount_minor=0, currency="USD"))
        return resp

    async def ListOpenInvoices(self, request, context):
        self.w.count("ListOpenInvoices")
        p = await _require(self.w, context)
        return billing_pb2.ListOpenInvoicesResponse(invoices=_open_invoices(p))

    async def GetEstimate(self, request, context):
        self.w.count("GetEstimate")
        p = await _require(self.w, context)
        est = self.w.estimates.get(request.estimate_id)
        if est is None or est.customer_id != p.customer_id:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such estimate")
        return billing_pb2.GetEstimateResponse(estimate=est)

    async def DecideEstimate(self, request, context):
        self.w.count("DecideEstimate")
        p = await _require(self.w, context)
        est = self.w.estimates.get(request.estimate_id)
        if est is None or est.customer_id != p.customer_id:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such estimate")
        if est.status != "open":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"this estimate was already {est.status}")
        est.status = "approved" if request.approve else "declined"
        est.decision_reason = request.reason.strip()
        return billing_pb2.DecideEstimateResponse(estimate=est)

    async def ListPaymentProfiles(self, request, context):
        self.w.count("ListPaymentProfiles")
        await _require(self.w, context)
        return billing_pb2.ListPaymentProfilesResponse(
            tokenize_url="https://pay.example.test/v1/tokens",
            profiles=self.w.payment_profiles,
            test_cards=self.w.test_cards,
        )


def _open_invoices(p: common_pb2.Principal) -> list[billing_pb2.Invoice]:
    if p.customer_id != CUSTOMER_A:
        return []
    money = common_pb2.Money
    return [
        billing_pb2.Invoice(
            id="inv-1",
            number="INV-2041",
            customer_id=CUSTOMER_A,
            issued_on="2025-01-15",
            due_on="2025-02-14",
            status="unpaid",
            items_summary="Monthly support",
            total=money(amount_minor=123450, currency="USD"),
            balance_due=money(amount_minor=23450, currency="USD"),
        ),
        billing_pb2.Invoice(
            id="inv-2",
            number="INV-2042",
            customer_id=CUSTOMER_A,
            issued_on="2025-02-01",
            due_on="2025-03-03",
            status="unpaid",
            total=money(amount_minor=9900, currency="EUR"),
            balance_due=money(amount_minor=9900, currency="EUR"),
        ),
    ]


class FakeAssets(assets_pb2_grpc.AssetsServiceServicer):
    def __init__(self, world: World) -> None:
        self.w = world

    async def ListAssets(self, request, context):
        self.w.count("ListAssets")
        p = await _require(self.w, context)
        return assets_pb2.ListAssetsResponse(assets=[a for a in self.w.assets if a.customer_id in p.customer_ids])

    async def ListSites(self, request, context):
        self.w.count("ListSites")
        await _require(self.w, context)
        return assets_pb2.ListSitesResponse()

    async def GetAsset(self, request, context):
        self.w.count("GetAsset")
        p = await _require(self.w, context)
        staff = p.kind == common_pb2.PRINCIPAL_KIND_STAFF
        for a in self.w.assets:
            if a.id == request.asset_id and (staff or a.customer_id in p.customer_ids):
                return assets_pb2.GetAssetResponse(asset=a)
        await context.abort(grpc.StatusCode.NOT_FOUND, "asset not found")


class FakeDocuments(documents_pb2_grpc.DocumentsServiceServicer):
    """Customer A's one public document; the rules themselves are tested against the real assets service."""

    def __init__(self, world: World) -> None:
        self.w = world

    async def ListDocuments(self, request, context):
        self.w.count("ListDocuments")
        p = await _require(self.w, context)
        if p.customer_id != CUSTOMER_A:
            return documents_pb2.ListDocumentsResponse()
        return documents_pb2.ListDocumentsResponse(
            documents=[
                documents_pb2.Document(
                    id="00000000-0000-4000-8000-00000000d0c1",
                    customer_id=CUSTOMER_A,
                    filename="Network diagram.pdf",
                    content_type="application/pdf",
                    size_bytes=48_213,
                    visibility=documents_pb2.DOCUMENT_VISIBILITY_PUBLIC,
                    created_at=ts(TS_CREATED),
                )
            ]
        )


class FakeRemote(remote_pb2_grpc.RemoteServiceServicer):
    """Canned answers of remote, filtered by the principal's customer as the service does."""

    def __init__(self, world: World) -> None:
        self.w = world

    def _mine(self, p, rows):
        staff = p.kind == common_pb2.PRINCIPAL_KIND_STAFF
        return [r for r in rows if staff or r.customer_id in p.customer_ids]

    async def ListScriptRuns(self, request, context):
        self.w.count("ListScriptRuns")
        await _require(self.w, context)
        return remote_pb2.ListScriptRunsResponse(script_runs=self.w.script_runs)

    async def ListAgents(self, request, context):
        self.w.count("ListAgents")
        p = await _require(self.w, context)
        wanted = set(request.asset_ids)
        rows = [a for a in self._mine(p, self.w.agents) if not wanted or a.asset_id in wanted]
        return remote_pb2.ListAgentsResponse(agents=rows)

    async def ListScripts(self, request, context):
        self.w.count("ListScripts")
        p = await _require(self.w, context)
        if p.kind != common_pb2.PRINCIPAL_KIND_STAFF and perm.ASSETS_RUN_SCRIPT not in p.permissions:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "needs Assets - Run Script")
        return remote_pb2.ListScriptsResponse(scripts=self.w.scripts)

    async def GetScript(self, request, context):
        self.w.count("GetScript")
        await _require(self.w, context)
        for sc in self.w.scripts:
            if sc.id == request.script_id:
                return remote_pb2.GetScriptResponse(script=sc)
        await context.abort(grpc.StatusCode.NOT_FOUND, "script not found")

    async def StartScriptRun(self, request, context):
        self.w.count("StartScriptRun")
        p = await _require(self.w, context)
        if self.w.device_offline:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "device offline")
        if request.new_ticket and request.ticket_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "ticket_id: give a ticket_id or new_ticket")
        for r in self.w.script_runs:
            if r.id == f"run-{request.idempotency_key}":
                return remote_pb2.StartScriptRunResponse(run=r)
        run_id = f"run-{request.idempotency_key or len(self.w.script_runs)}"
        run = remote_pb2.ScriptRun(
            id=run_id,
            customer_id=p.customer_id or CUSTOMER_A,
            asset_id=request.asset_id,
            script_id=request.script_id,
            script_name="Fix my internet",
            status="running",
            # remote names a new ticket at once; tickets opens it when the run has finished.
            ticket_id=f"tkt-for-{run_id}" if request.new_ticket else request.ticket_id,
            new_ticket=request.new_ticket,
            started_at=ts(TS_UPDATED),
        )
        self.w.script_runs.append(run)
        return remote_pb2.StartScriptRunResponse(run=run)

    async def GetScriptRun(self, request, context):
        self.w.count("GetScriptRun")
        p = await _require(self.w, context)
        for r in self._mine(p, self.w.script_runs):
            if r.id == request.run_id:
                return remote_pb2.GetScriptRunResponse(run=r)
        await context.abort(grpc.StatusCode.NOT_FOUND, "run not found")

    async def WatchScriptRun(self, request, context):
        self.w.count("WatchScriptRun")
        run = (await self.GetScriptRun(remote_pb2.GetScriptRunRequest(run_id=request.run_id), context)).run
        for line in "line one\n<b>two</b>\n"[request.offset :].splitlines(keepends=True):
            yield remote_pb2.WatchScriptRunResponse(output=line)
        done = remote_pb2.ScriptRun()
        done.CopyFrom(run)
        done.status, done.exit_code = "succeeded", 0
        done.finished_at.CopyFrom(ts(TS_UPDATED + 5))
        yield remote_pb2.WatchScriptRunResponse(finished=done)

    async def _staff(self, context):
        p = await _require(self.w, context)
        if p.kind != common_pb2.PRINCIPAL_KIND_STAFF:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "staff only")
        return p

    async def CreateScript(self, request, context):
        self.w.count("CreateScript")
        await self._staff(context)
        if not request.script.body.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "body: must not be empty")
        made = remote_pb2.Script()
        made.CopyFrom(request.script)
        made.id = f"scr-{len(self.w.scripts) + 1}"
        self.w.scripts.append(made)
        return remote_pb2.CreateScriptResponse(script=made)

    async def UpdateScript(self, request, context):
        self.w.count("UpdateScript")
        await self._staff(context)
        for i, sc in enumerate(self.w.scripts):
            if sc.id == request.script.id:
                self.w.scripts[i] = request.script
                return remote_pb2.UpdateScriptResponse(script=request.script)
        await context.abort(grpc.StatusCode.NOT_FOUND, "script not found")

    async def DeleteScript(self, request, context):
        self.w.count("DeleteScript")
        await self._staff(context)
        self.w.scripts = [sc for sc in self.w.scripts if sc.id != request.script_id]
        return remote_pb2.DeleteScriptResponse()

    async def CreateEnrolmentToken(self, request, context):
        self.w.count("CreateEnrolmentToken")
        await self._staff(context)
        return remote_pb2.CreateEnrolmentTokenResponse(
            token=f"enrol-{request.asset_id}-{request.valid_minutes}", expires_at=ts(TS_UPDATED + 3600)
        )

    async def ListAccessRequests(self, request, context):
        self.w.count("ListAccessRequests")
        p = await _require(self.w, context)
        rows = [r for r in self._mine(p, self.w.access_requests) if not request.status or r.status == request.status]
        return remote_pb2.ListAccessRequestsResponse(requests=rows)

    async def DecideAccessRequest(self, request, context):
        self.w.count("DecideAccessRequest")
        p = await _require(self.w, context)
        for r in self._mine(p, self.w.access_requests):
            if r.id == request.request_id:
                if r.status != "pending":
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "already decided")
                r.status = "approved" if request.approve else "declined"
                r.decided_by = p.display_name
                return remote_pb2.DecideAccessRequestResponse(request=r)
        await context.abort(grpc.StatusCode.NOT_FOUND, "request not found")

    async def OpenRemoteSession(self, request, context):
        self.w.count("OpenRemoteSession")
        p = await _require(self.w, context)
        rs = remote_pb2.RemoteSession(
            id=f"rs-{len(self.w.remote_sessions) + 1}",
            customer_id=CUSTOMER_A,
            asset_id=request.asset_id,
            opened_by=p.display_name,
            opened_by_kind="staff" if p.kind == common_pb2.PRINCIPAL_KIND_STAFF else "portal",
            started_at=ts(TS_UPDATED),
            ends_at=ts(TS_UPDATED + 900),
        )
        self.w.remote_sessions.append(rs)
        return remote_pb2.OpenRemoteSessionResponse(session=rs)

    async def ListRemoteSessions(self, request, context):
        self.w.count("ListRemoteSessions")
        p = await _require(self.w, context)
        rows = [
            s for s in self._mine(p, self.w.remote_sessions) if not request.asset_id or s.asset_id == request.asset_id
        ]
        return remote_pb2.ListRemoteSessionsResponse(sessions=rows)

    async def Terminal(self, request_iterator, context):
        """Attach, then "ready", then each input echoed back upper-cased; a resize answers "cols x rows"; the
        browser's end of input closes with "closed"."""
        self.w.count("Terminal")
        await _require(self.w, context)
        first = await anext(request_iterator)
        if not any(s.id == first.attach_session_id for s in self.w.remote_sessions):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not your session")
        yield remote_pb2.TerminalResponse(output=b"ready\r\n")
        async for msg in request_iterator:
            if msg.WhichOneof("kind") == "input":
                yield remote_pb2.TerminalResponse(output=msg.input.upper())
            elif msg.WhichOneof("kind") == "resize":
                yield remote_pb2.TerminalResponse(output=f"{msg.resize.cols}x{msg.resize.rows}".encode())
        yield remote_pb2.TerminalResponse(closed="closed")


@dataclass
class FakeBackends:
    world: World
    address: str
    server: grpc.aio.Server


@asynccontextmanager
async def fake_backends() -> AsyncIterator[FakeBackends]:
    world = make_world()
    server = grpc.aio.server()
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(FakeIdentity(world), server)
    tickets_pb2_grpc.add_TicketsServiceServicer_to_server(FakeTickets(world), server)
    billing_pb2_grpc.add_BillingServiceServicer_to_server(FakeBilling(world), server)
    assets_pb2_grpc.add_AssetsServiceServicer_to_server(FakeAssets(world), server)
    documents_pb2_grpc.add_DocumentsServiceServicer_to_server(FakeDocuments(world), server)
    remote_pb2_grpc.add_RemoteServiceServicer_to_server(FakeRemote(world), server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    try:
        yield FakeBackends(world, f"127.0.0.1:{port}", server)
    finally:
        await server.stop(0)


def make_settings(address: str, **overrides: str) -> Settings:
    values = {
        "identity_addr": address,
        "tickets_addr": address,
        "billing_addr": address,
        "assets_addr": address,
        "remote_addr": address,
        "session_secret": "test-secret-not-for-production",
        "operator_name": "Northwind IT",
        "backend_timeout_seconds": 2.0,
        "metrics_port": 0,
        # The doubles change their data without events: the read cache (tested in tests/e2e) stays off here.
        "read_cache_entries": 0,
        # No NATS here (nothing listens on the discard port): the principal cache stays in its short-TTL mode
        # unless a test says the session events are heard (`app.state.sessions.trust()`), whatever runs on 4222.
        "nats_url": "nats://127.0.0.1:9",
        **overrides,
    }
    return Settings(**values)


@dataclass
class Gateway:
    client: httpx.AsyncClient
    world: World
    app: object

    async def sign_in(
        self, login: str = "alice@acme.test", password: str = "correct horse", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        page = await self.client.get("/signin", headers=headers)
        token = csrf_from(page.text)
        return await self.client.post(
            "/signin", data={"login": login, "password": password, "csrf_token": token, "next": "/"}, headers=headers
        )

    async def api_token(self, login: str = "alice@acme.test") -> str:
        r = await self.client.post("/api/v1/sessions", json={"login": login, "password": "correct horse"})
        assert r.status_code == 201, r.text
        return r.json()["session_token"]


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@asynccontextmanager
async def running_gateway(
    backends: FakeBackends, *, peer: tuple[str, int] = ("203.0.113.7", 50000), **overrides: str
) -> AsyncIterator[Gateway]:
    """The app over the fakes; requests come from TCP peer `peer`."""
    app = create_app(make_settings(backends.address, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield Gateway(client, backends.world, app)


@pytest.fixture
async def backends() -> AsyncIterator[FakeBackends]:
    async with fake_backends() as b:
        yield b


@pytest.fixture
async def gw(backends: FakeBackends) -> AsyncIterator[Gateway]:
    async with running_gateway(backends) as g:
        yield g
