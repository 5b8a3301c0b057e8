"""Demo data, created once through the real gRPC APIs as the bootstrap staff user and the demo portal users.

Idempotent: when ListCustomers already returns a customer, nothing is created. One module per area
(identity, knowledge, tickets, billing), each on the public helpers of `rpc`.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2_grpc
from portal_local.seed.billing import seed_billing
from portal_local.seed.identity import DEMO_CUSTOMERS, DemoCustomer, seed_customers
from portal_local.seed.knowledge import seed_knowledge
from portal_local.seed.rpc import SeedError, call, channel, sign_in, sign_out
from portal_local.seed.staff import DEMO_TECHNICIAN_EMAIL, DEMO_TECHNICIAN_PASSWORD, seed_technician
from portal_local.seed.tickets import seed_tickets
from portal_local.stack import Stack

__all__ = [
    "DEMO_CUSTOMERS",
    "DEMO_TECHNICIAN_EMAIL",
    "DEMO_TECHNICIAN_PASSWORD",
    "DemoCustomer",
    "SeedError",
    "SeedResult",
    "seed",
    "seed_stack",
]


@dataclass(frozen=True)
class SeedResult:
    created: bool  # False when data was already there
    customers: int = 0
    tickets: int = 0


def seed(
    identity_addr: str, tickets_addr: str, staff_email: str, staff_password: str, mail_url: str = ""
) -> SeedResult:
    """With `mail_url` (the local mail catcher), also the demo technician, which accepts its emailed invitation."""
    with channel(identity_addr) as id_channel, channel(tickets_addr) as t_channel:
        identity = identity_pb2_grpc.IdentityServiceStub(id_channel)
        tickets = tickets_pb2_grpc.TicketsServiceStub(t_channel)

        staff_session, staff_token = sign_in(identity, staff_email, staff_password, identity_pb2.AUDIENCE_STAFF)
        existing = call(
            identity.ListCustomers,
            identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=1)),
            "ListCustomers",
            staff_token,
        )
        if existing.customers:
            sign_out(identity, staff_session)
            return SeedResult(created=False)

        customers = seed_customers(identity, staff_token)
        seed_knowledge(t_channel, staff_token)
        if mail_url:
            seed_technician(identity, staff_token, mail_url)
        sign_out(identity, staff_session)
        created_tickets = seed_tickets(identity, tickets)

    return SeedResult(created=True, customers=customers, tickets=created_tickets)


def seed_stack(stack: Stack) -> SeedResult:
    """Seed a started `portal_local.stack.Stack`."""
    result = seed(
        stack.grpc_addr("identity"),
        stack.grpc_addr("tickets"),
        stack.config.staff_email,
        stack.config.staff_password,
        mail_url=stack.mail_url if "mailcatcher" in stack.enabled else "",
    )
    if result.created and "billing" in stack.enabled:
        addrs = (stack.grpc_addr("identity"), stack.grpc_addr("billing"))
        seed_billing(*addrs, stack.config.staff_email, stack.config.staff_password)
    return result
