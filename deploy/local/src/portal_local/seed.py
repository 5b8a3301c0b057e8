"""Demo data, created once through the real gRPC APIs as the bootstrap staff user and the demo portal users.

Idempotent: when ListCustomers already returns a customer, nothing is created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from portal_local.seed_knowledge import seed_knowledge
from portal_local.stack import Stack

DEADLINE_SECONDS = 10.0
# The demo customers' tax and terms, set where they live (identity's customer settings); billing learns them by event.
DEMO_TAX_RATE_BP = 825
DEMO_TERMS_DAYS = 30


@dataclass(frozen=True)
class DemoCustomer:
    slug: str
    business_name: str
    email: str
    contact_name: str
    login: str
    password: str
    tickets: tuple[tuple[str, str], ...]  # (subject, description)


DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        slug="acme",
        business_name="Acme Dental",
        email="office@acme.test",
        contact_name="Alice Moreno",
        login="alice@acme.test",
        password="demo-acme-123",  # noqa: S106 (published demo login)
        tickets=(
            (
                "Front desk printer jams on every second page",
                "The HP printer at reception jams when printing appointment letters.",
            ),
            (
                "New hygienist needs an email account",
                "Maria starts on Monday and needs an email account and access to the schedule.",
            ),
            (
                "X-ray workstation is slow after updates",
                "Since last week's updates the imaging software takes minutes to open.",
            ),
        ),
    ),
    DemoCustomer(
        slug="blueharbor",
        business_name="Blue Harbor Logistics",
        email="it@blueharbor.test",
        contact_name="Bob Lindqvist",
        login="bob@blueharbor.test",
        password="demo-blue-123",  # noqa: S106 (published demo login)
        tickets=(
            (
                "VPN drops every few minutes at the warehouse",
                "Scanners in the warehouse lose the connection to the office server several times an hour.",
            ),
            (
                "Replace the battery in the dispatch UPS",
                "The UPS in the dispatch office beeps and reports a failed battery self-test.",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class SeedResult:
    created: bool  # False when data was already there
    customers: int = 0
    tickets: int = 0


class SeedError(RuntimeError):
    pass


_Resp = TypeVar("_Resp", bound=Message)


def _call(rpc: Callable[..., _Resp], request: Message, name: str, token: str | None = None) -> _Resp:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    try:
        return rpc(request, timeout=DEADLINE_SECONDS, metadata=metadata)
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        raise SeedError(f"seeding failed at {name}: {code.name if code else 'error'}: {details}") from exc


@contextmanager
def _channel(addr: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)]) as channel:
        yield channel


def _sign_in(
    identity: identity_pb2_grpc.IdentityServiceStub, login: str, password: str, audience: int
) -> tuple[str, str]:
    """The session token and a principal token for it."""
    signed_in = _call(
        identity.SignIn,
        identity_pb2.SignInRequest(login=login, password=password, audience=audience, client_address="127.0.0.1"),
        f"SignIn({login})",
    )
    resolved = _call(
        identity.ResolveSession,
        identity_pb2.ResolveSessionRequest(session_token=signed_in.session_token),
        f"ResolveSession({login})",
    )
    return signed_in.session_token, resolved.principal_token


def _sign_out(identity: identity_pb2_grpc.IdentityServiceStub, session_token: str) -> None:
    _call(identity.SignOut, identity_pb2.SignOutRequest(session_token=session_token), "SignOut")


def seed(identity_addr: str, tickets_addr: str, staff_email: str, staff_password: str) -> SeedResult:
    with _channel(identity_addr) as id_channel, _channel(tickets_addr) as t_channel:
        identity = identity_pb2_grpc.IdentityServiceStub(id_channel)
        tickets = tickets_pb2_grpc.TicketsServiceStub(t_channel)

        staff_session, staff_token = _sign_in(identity, staff_email, staff_password, identity_pb2.AUDIENCE_STAFF)
        existing = _call(
            identity.ListCustomers,
            identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=1)),
            "ListCustomers",
            staff_token,
        )
        if existing.customers:
            _sign_out(identity, staff_session)
            return SeedResult(created=False)

        for demo in DEMO_CUSTOMERS:
            customer = _call(
                identity.CreateCustomer,
                identity_pb2.CreateCustomerRequest(
                    business_name=demo.business_name,
                    email=demo.email,
                    idempotency_key=f"seed-customer-{demo.slug}",
                    settings=identity_pb2.CustomerSettings(
                        tax_rate_bp=DEMO_TAX_RATE_BP,
                        invoice_terms_days=DEMO_TERMS_DAYS,
                        receive_billing_emails=True,
                        receive_marketing_emails=True,
                        receive_report_emails=True,
                    ),
                ),
                f"CreateCustomer({demo.business_name})",
                staff_token,
            ).customer
            contact = _call(
                identity.CreateContact,
                identity_pb2.CreateContactRequest(
                    customer_id=customer.id,
                    name=demo.contact_name,
                    email=demo.login,
                    idempotency_key=f"seed-contact-{demo.slug}",
                ),
                f"CreateContact({demo.contact_name})",
                staff_token,
            ).contact
            _call(
                identity.CreatePortalUser,
                identity_pb2.CreatePortalUserRequest(
                    customer_id=customer.id,
                    contact_id=contact.id,
                    login=demo.login,
                    email=demo.login,
                    password=demo.password,
                ),
                f"CreatePortalUser({demo.login})",
                staff_token,
            )
        seed_knowledge(t_channel, staff_token)
        _sign_out(identity, staff_session)

        created_tickets = 0
        for demo in DEMO_CUSTOMERS:
            session, token = _sign_in(identity, demo.login, demo.password, identity_pb2.AUDIENCE_PORTAL)
            for i, (subject, description) in enumerate(demo.tickets, start=1):
                _call(
                    tickets.CreateTicket,
                    tickets_pb2.CreateTicketRequest(
                        subject=subject, description=description, idempotency_key=f"seed-ticket-{demo.slug}-{i}"
                    ),
                    f"CreateTicket({subject})",
                    token,
                )
                created_tickets += 1
            _sign_out(identity, session)

    return SeedResult(created=True, customers=len(DEMO_CUSTOMERS), tickets=created_tickets)


def seed_stack(stack: Stack) -> SeedResult:
    """Seed a started `portal_local.Stack`."""
    result = seed(
        stack.grpc_addr("identity"),
        stack.grpc_addr("tickets"),
        stack.config.staff_email,
        stack.config.staff_password,
    )
    if result.created and "billing" in stack.enabled:
        from portal_local.seed_billing import seed_billing  # it builds on this module's helpers

        addrs = (stack.grpc_addr("identity"), stack.grpc_addr("billing"))
        seed_billing(*addrs, stack.config.staff_email, stack.config.staff_password)
    return result
