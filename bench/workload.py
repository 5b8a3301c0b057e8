"""The data shape and the signed-in sessions issue 16's benchmarks measure, made through the product's gRPC APIs on a
seeded stack (the demo customers of `portal_local.seed` must be there).

For each of the first two demo customers: `tickets` tickets (1 000) with `replies` public replies (3 500) between
them, `invoices` sent invoices (200), `assets` assets (100, one CSV import); and `users` portal users (64), half
in a group that sees All of the customer's records and half in one that sees only their own (Mine). Every user
signs in through the gateway's JSON API; the session token serves as the page cookie and as the API's bearer token.

`write_sessions()` writes one line per session for `bench/mixed_load.lua`:
`token<TAB>display name<TAB>customer name<TAB>scope`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from portal_local.seed import DEMO_CUSTOMERS
from portal_local.stack import Stack
from servicekit import permissions as perm

# What each scope's group may do: the home's sections and the lists, with the matching View All or View Mine.
_COMMON = {perm.TICKETS_CREATE, perm.ACCOUNT_OVERVIEW_VIEW, perm.INVOICES_PAY_ONLINE, perm.ATTACHMENTS_VIEW_PUBLIC}
GROUPS = {
    "all": _COMMON
    | {perm.TICKETS_VIEW_ALL, perm.INVOICES_VIEW_ALL, perm.PAYMENTS_VIEW_ALL, perm.ESTIMATES_VIEW_ALL}
    | {perm.ASSETS_VIEW_ALL, perm.CREDENTIALS_VIEW_ALL},
    "mine": _COMMON
    | {perm.TICKETS_VIEW_MINE, perm.INVOICES_VIEW_MINE, perm.PAYMENTS_VIEW_MINE, perm.ESTIMATES_VIEW_MINE}
    | {perm.ASSETS_VIEW_MINE, perm.CREDENTIALS_VIEW_MINE},
}
CONCURRENCY = 16
TIMEOUT = 60.0


@dataclass(frozen=True)
class Shape:
    customers: int = 2
    users: int = 64
    tickets: int = 1000
    replies: int = 3500
    invoices: int = 200
    assets: int = 100


@dataclass(frozen=True)
class BenchSession:
    token: str
    name: str
    customer: str
    scope: str  # "all" or "mine"


class _Staff:
    """gRPC stubs with the bootstrap staff user's principal token, at most CONCURRENCY calls at a time."""

    def __init__(self, stack: Stack) -> None:
        opts = [("grpc.enable_http_proxy", 0)]
        self.channels = {s: grpc.aio.insecure_channel(stack.grpc_addr(s), options=opts) for s in _SERVICES}
        self.identity = identity_pb2_grpc.IdentityServiceStub(self.channels["identity"])
        self.tickets = tickets_pb2_grpc.TicketsServiceStub(self.channels["tickets"])
        self.billing = billing_pb2_grpc.BillingServiceStub(self.channels["billing"])
        self.assets = assets_pb2_grpc.AssetsServiceStub(self.channels["assets"])
        self.gate = asyncio.Semaphore(CONCURRENCY)
        self.md: tuple[tuple[str, str], ...] = ()

    async def sign_in(self, stack: Stack) -> None:
        signed = await self.identity.SignIn(
            identity_pb2.SignInRequest(
                login=stack.config.staff_email,
                password=stack.config.staff_password,
                audience=identity_pb2.AUDIENCE_STAFF,
            ),
            timeout=TIMEOUT,
        )
        resolved = await self.identity.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=TIMEOUT
        )
        self.md = (("authorization", f"Bearer {resolved.principal_token}"),)

    async def __call__(self, rpc, request):  # noqa: ANN001, ANN204 - any unary stub method and its request
        async with self.gate:
            return await rpc(request, timeout=TIMEOUT, metadata=self.md)

    async def close(self) -> None:
        for ch in self.channels.values():
            await ch.close()


_SERVICES = ("identity", "tickets", "billing", "assets")


async def build(stack: Stack, shape: Shape = Shape()) -> list[BenchSession]:
    """Make the data shape and sign every bench user in; returns the sessions, All and Mine interleaved."""
    staff = _Staff(stack)
    try:
        await staff.sign_in(stack)
        run = secrets.token_hex(3)
        for scope, permissions in GROUPS.items():
            await staff(
                staff.identity.CreatePermissionGroup,
                identity_pb2.CreatePermissionGroupRequest(name=f"Bench {scope} {run}", permissions=sorted(permissions)),
            )
        listed = await staff(
            staff.identity.ListCustomers,
            identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=100)),
        )
        by_email = {c.email: c for c in listed.customers}
        users: list[tuple[str, str, str, str]] = []  # login, password, customer name, scope
        for demo in DEMO_CUSTOMERS[: shape.customers]:
            customer = by_email[demo.email]
            contacts, made = await _users(staff, customer.id, demo.email, run, shape.users)
            users += [(login, password, demo.business_name, scope) for login, password, scope in made]
            await _customer_data(staff, customer.id, contacts, run, shape)
    finally:
        await staff.close()
    return await _sign_in_all(stack, users)


async def _users(
    staff: _Staff, customer_id: str, customer_email: str, run: str, count: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    domain = customer_email.split("@", 1)[1]

    async def make(n: int) -> tuple[tuple[str, str], tuple[str, str, str]]:
        scope = "all" if n % 2 == 0 else "mine"
        login = f"bench-{run}-{n:03d}@{domain}"
        password = f"bench-pass-{secrets.token_hex(6)}"
        name = f"Bench {run} {n:03d}"
        contact = await staff(
            staff.identity.CreateContact,
            identity_pb2.CreateContactRequest(customer_id=customer_id, name=name, email=login),
        )
        await staff(
            staff.identity.CreatePortalUser,
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer_id,
                contact_id=contact.contact.id,
                login=login,
                email=login,
                password=password,
                group_name=f"Bench {scope} {run}",
            ),
        )
        return (contact.contact.id, name), (login, password, scope)

    made = await asyncio.gather(*(make(n) for n in range(count)))
    return [c for c, _ in made], [u for _, u in made]


async def _customer_data(
    staff: _Staff, customer_id: str, contacts: list[tuple[str, str]], run: str, shape: Shape
) -> None:
    async def ticket(n: int) -> str:
        contact_id, contact_name = contacts[n % len(contacts)]
        made = await staff(
            staff.tickets.CreateTicket,
            tickets_pb2.CreateTicketRequest(
                subject=f"Bench ticket {n} printer network {run}",
                description="The office printer drops off the network after lunch.",
                priority="Normal",
                customer_id=customer_id,
                contact_id=contact_id,
                contact_name=contact_name,
                idempotency_key=f"bench-{run}-{customer_id}-{n}",
            ),
        )
        return made.ticket.id

    ticket_ids = await asyncio.gather(*(ticket(n) for n in range(shape.tickets)))
    await asyncio.gather(
        *(
            staff(
                staff.tickets.AddComment,
                tickets_pb2.AddCommentRequest(
                    ticket_id=ticket_ids[n % len(ticket_ids)], body=f"Reply {n}: we are on it.", author_name="Bench"
                ),
            )
            for n in range(shape.replies)
        )
    )

    async def invoice(n: int) -> None:
        contact_id, _ = contacts[n % len(contacts)]
        await staff(
            staff.billing.CreateInvoice,
            billing_pb2.CreateInvoiceRequest(
                customer_id=customer_id,
                contact_id=contact_id,
                currency="USD",
                lines=[
                    billing_pb2.LineInput(description=f"Support hours {n}", quantity="1", unit_price_minor=4500 + n)
                ],
                idempotency_key=f"bench-{run}-{customer_id}-inv-{n}",
            ),
        )

    await asyncio.gather(*(invoice(n) for n in range(shape.invoices)))
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["name", "serial", "type", "contact"])
    for n in range(shape.assets):
        writer.writerow([f"Bench PC {n}", f"SN-{run}-{n:04d}", "Desktop", contacts[n % len(contacts)][0]])
    await staff(
        staff.assets.ImportAssetsCsv,
        assets_pb2.ImportAssetsCsvRequest(
            customer_id=customer_id, csv=rows.getvalue().encode(), idempotency_key=f"bench-{run}-{customer_id}-assets"
        ),
    )


async def _sign_in_all(stack: Stack, users: list[tuple[str, str, str, str]]) -> list[BenchSession]:
    gate = asyncio.Semaphore(4)  # each sign-in hashes a password: a few at a time
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as c:

        async def one(login: str, password: str, customer: str, scope: str) -> BenchSession:
            async with gate:
                r = await c.post("/api/v1/sessions", json={"login": login, "password": password})
            r.raise_for_status()
            token = r.json()["session_token"]
            me = await c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            me.raise_for_status()
            return BenchSession(token, me.json()["display_name"], customer, scope)

        return list(await asyncio.gather(*(one(*u) for u in users)))


def write_sessions(sessions: list[BenchSession], path: Path) -> None:
    path.write_text("".join(f"{s.token}\t{s.name}\t{s.customer}\t{s.scope}\n" for s in sessions), "utf-8")
