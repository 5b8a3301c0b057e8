"""The harness's users: for each demo customer a contact of its own, and portal users of that contact in
groups holding exactly the permission sets the matrix asks for, all made through identity's staff RPCs."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field

import grpc
import httpx

from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.seed import DEMO_CUSTOMERS
from portal_local.stack import Stack
from portal_testkit.tls import TLS
from servicekit.permissions import CATALOGUE

DEADLINE = 15.0


@dataclass
class Customer:
    slug: str
    id: str
    contact_id: str
    # Record ids made for routes, by route key: made once, probed by every case.
    records: dict[str, str] = field(default_factory=dict)


class AuthzWorld:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._channel = grpc.insecure_channel(stack.grpc_addr("identity"), options=[("grpc.enable_http_proxy", 0)])
        self.identity = identity_pb2_grpc.IdentityServiceStub(self._channel)
        self._staff_session = self._sign_in(stack.config.staff_email, stack.config.staff_password, staff=True)
        self._groups: dict[frozenset[str], str] = {}
        self._users: dict[tuple[str, frozenset[str]], str] = {}
        self._lock = threading.Lock()
        self.customers = self._customers()

    def close(self) -> None:
        self._channel.close()

    # --- identity over gRPC -----------------------------------------------------------------------

    def _sign_in(self, login: str, password: str, *, staff: bool = False) -> str:
        audience = identity_pb2.AUDIENCE_STAFF if staff else identity_pb2.AUDIENCE_PORTAL
        req = identity_pb2.SignInRequest(login=login, password=password, audience=audience, client_address="127.0.0.1")
        return self.identity.SignIn(req, timeout=DEADLINE).session_token

    def principal_token(self, session_token: str) -> str:
        """A fresh principal token for a session, as the gateway gets it."""
        req = identity_pb2.ResolveSessionRequest(session_token=session_token)
        return self.identity.ResolveSession(req, timeout=DEADLINE).principal_token

    def staff_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.principal_token(self._staff_session)}"),)

    def _customers(self) -> dict[str, Customer]:
        listed = self.identity.ListCustomers(
            identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=100)),
            timeout=DEADLINE,
            metadata=self.staff_metadata(),
        ).customers
        by_email = {c.email: c.id for c in listed}
        out: dict[str, Customer] = {}
        for demo in DEMO_CUSTOMERS:
            customer_id = by_email[demo.email]
            contact = self.identity.CreateContact(
                identity_pb2.CreateContactRequest(
                    customer_id=customer_id,
                    name=f"Authz Probe {demo.slug}",
                    email=f"authz-contact@{demo.slug}.test",
                    idempotency_key=f"authz-contact-{demo.slug}",
                ),
                timeout=DEADLINE,
                metadata=self.staff_metadata(),
            ).contact
            out[demo.slug] = Customer(slug=demo.slug, id=customer_id, contact_id=contact.id)
        return out

    def group(self, permissions: frozenset[str]) -> str:
        """The name of a group holding exactly `permissions` (made on first use)."""
        name = self._groups.get(permissions)
        if name is None:
            digest = hashlib.sha256(",".join(sorted(permissions)).encode()).hexdigest()[:12]
            name = f"Authz {len(permissions)} {digest}"
            try:
                self.identity.CreatePermissionGroup(
                    identity_pb2.CreatePermissionGroupRequest(name=name, permissions=sorted(permissions)),
                    timeout=DEADLINE,
                    metadata=self.staff_metadata(),
                )
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.ALREADY_EXISTS:  # type: ignore[attr-defined]
                    raise
            self._groups[permissions] = name
        return name

    def session(self, customer: Customer, permissions: frozenset[str] | set[str]) -> str:
        """A session token of a portal user of `customer`'s harness contact whose group holds exactly `permissions`."""
        permissions = frozenset(permissions)
        with self._lock:
            key = (customer.slug, permissions)
            token = self._users.get(key)
            if token is None:
                password = secrets.token_urlsafe(18)
                login = f"authz-{len(self._users)}-{secrets.token_hex(4)}@{customer.slug}.test"
                self.identity.CreatePortalUser(
                    identity_pb2.CreatePortalUserRequest(
                        customer_id=customer.id,
                        contact_id=customer.contact_id,
                        login=login,
                        email=login,
                        password=password,
                        group_name=self.group(permissions),
                    ),
                    timeout=DEADLINE,
                    metadata=self.staff_metadata(),
                )
                token = self._sign_in(login, password)
                self._users[key] = token
            return token

    def owner(self, customer: Customer) -> str:
        """A session with every permission, on the customer's harness contact: it makes the probed records."""
        return self.session(customer, frozenset(CATALOGUE))

    # --- the gateway over HTTP --------------------------------------------------------------------

    def http(self, session_token: str | None, *, page: bool) -> httpx.Client:
        headers: dict[str, str] = {}
        if session_token and page:
            headers["Cookie"] = f"portal_session={session_token}"
        elif session_token:
            headers["Authorization"] = f"Bearer {session_token}"
        return httpx.Client(
            base_url=self.stack.gateway_url, headers=headers, timeout=DEADLINE, follow_redirects=False, verify=TLS
        )

    def staff_http(self) -> httpx.Client:
        """The gateway's staff JSON API as the stack's staff admin (bearer session token)."""
        return self.http(self._staff_session, page=False)

    def grpc_addr(self, service: str) -> str:
        return self.stack.grpc_addr(service)
