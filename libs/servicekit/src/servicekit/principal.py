"""The principal: who is calling. Identity signs it as a short-lived Ed25519 JWT; every service verifies it.

Services never trust ids from a request to decide whose data to return; they filter by the principal
that the token proves.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from portal.common.v1 import common_pb2
from servicekit.errors import PermissionDenied, Unauthenticated

ISSUER = "identity"
AUDIENCE = "portal"
ALGORITHM = "EdDSA"
METADATA_KEY = "authorization"

KIND_PORTAL_USER = "portal_user"
KIND_STAFF = "staff"
KIND_SERVICE = "service"
KIND_SECURE_LINK = "secure_link"

# A staff member's role (SPEC S1). Technicians work tickets and see customers; admins also manage staff, groups,
# settings and billing. A missing or unknown role is never an admin.
ROLE_ADMIN = "admin"
ROLE_TECHNICIAN = "technician"
STAFF_ROLES = (ROLE_ADMIN, ROLE_TECHNICIAN)

_KIND_TO_PROTO = {
    KIND_PORTAL_USER: common_pb2.PRINCIPAL_KIND_PORTAL_USER,
    KIND_STAFF: common_pb2.PRINCIPAL_KIND_STAFF,
    KIND_SERVICE: common_pb2.PRINCIPAL_KIND_SERVICE,
    KIND_SECURE_LINK: common_pb2.PRINCIPAL_KIND_SECURE_LINK,
}
_PROTO_TO_KIND = {v: k for k, v in _KIND_TO_PROTO.items()}


@dataclass(frozen=True)
class Principal:
    kind: str
    subject_id: str
    customer_id: str = ""
    contact_id: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)
    # The customers "All" covers: the customer and its subsidiaries.
    customer_ids: tuple[str, ...] = ()
    display_name: str = ""
    email: str = ""
    session_id: str = ""
    # A secure link's scope (SPEC P6): the one ticket or the one site it opens; both empty for a link to the
    # whole customer and for every other kind of principal.
    link_ticket_id: str = ""
    link_site_id: str = ""
    # Staff principals only: ROLE_ADMIN or ROLE_TECHNICIAN; "" (or anything else) is treated as a technician.
    staff_role: str = ""

    @property
    def is_admin(self) -> bool:
        """An admin staff member, or a service acting for the system (services are trusted with everything)."""
        return self.kind == KIND_SERVICE or (self.kind == KIND_STAFF and self.staff_role == ROLE_ADMIN)

    @property
    def is_staff(self) -> bool:
        return self.kind in (KIND_STAFF, KIND_SERVICE)

    @property
    def is_link(self) -> bool:
        return self.kind == KIND_SECURE_LINK

    def has(self, permission: str) -> bool:
        return self.is_staff or permission in self.permissions

    def to_proto(self) -> common_pb2.Principal:
        return common_pb2.Principal(
            kind=_KIND_TO_PROTO[self.kind],
            subject_id=self.subject_id,
            customer_id=self.customer_id,
            contact_id=self.contact_id,
            permissions=sorted(self.permissions),
            customer_ids=list(self.customer_ids),
            display_name=self.display_name,
            email=self.email,
            session_id=self.session_id,
            link_ticket_id=self.link_ticket_id,
            link_site_id=self.link_site_id,
            staff_role=self.staff_role,
        )

    @classmethod
    def from_proto(cls, msg: common_pb2.Principal) -> Principal:
        return cls(
            kind=_PROTO_TO_KIND.get(msg.kind, ""),
            subject_id=msg.subject_id,
            customer_id=msg.customer_id,
            contact_id=msg.contact_id,
            permissions=frozenset(msg.permissions),
            customer_ids=tuple(msg.customer_ids),
            display_name=msg.display_name,
            email=msg.email,
            session_id=msg.session_id,
            link_ticket_id=msg.link_ticket_id,
            link_site_id=msg.link_site_id,
            staff_role=msg.staff_role,
        )


@dataclass(frozen=True)
class Visibility:
    """Which records of a kind the principal may see. None means no restriction (staff)."""

    customer_ids: tuple[str, ...] | None
    contact_id: str | None

    def allows(self, customer_id: str, contact_id: str) -> bool:
        if self.customer_ids is not None and customer_id not in self.customer_ids:
            return False
        return self.contact_id is None or contact_id == self.contact_id


def visibility(principal: Principal, *, view_all: str, view_mine: str) -> Visibility:
    """Scope rules of SPEC P5: All = the customer and subsidiaries; Mine = linked to the user's contact."""
    if principal.is_staff:
        return Visibility(customer_ids=None, contact_id=None)
    customers = principal.customer_ids or ((principal.customer_id,) if principal.customer_id else ())
    if view_all in principal.permissions:
        return Visibility(customer_ids=customers, contact_id=None)
    if view_mine in principal.permissions:
        return Visibility(customer_ids=(principal.customer_id,), contact_id=principal.contact_id)
    raise PermissionDenied("your portal group does not allow viewing these records")


def require(principal: Principal, permission: str) -> None:
    if not principal.has(permission):
        raise PermissionDenied("your portal group does not allow this action")


def require_admin(principal: Principal, action: str = "do this") -> None:
    """Admin-only operations (SPEC S1): staff management, permission groups, portal settings, billing changes.
    A technician, a staff principal without a role, and every portal or link principal are refused."""
    if not principal.is_admin:
        raise PermissionDenied(f"only an admin may {action}")


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit("the principal signing key must be an Ed25519 private key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise SystemExit("the principal public key must be an Ed25519 public key")
    return key


class TokenSigner:
    """Identity's half: mint principal tokens."""

    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int = 300) -> None:
        self._key = private_key
        self.ttl_seconds = ttl_seconds

    def sign(self, p: Principal, *, now: float | None = None) -> tuple[str, int]:
        """The token and its expiry as unix seconds."""
        issued = int(now if now is not None else time.time())
        expires = issued + self.ttl_seconds
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": issued,
            "exp": expires,
            "sub": p.subject_id,
            "knd": p.kind,
            "cus": p.customer_id,
            "ctc": p.contact_id,
            "prm": sorted(p.permissions),
            "cids": list(p.customer_ids),
            "nam": p.display_name,
            "eml": p.email,
            "sid": p.session_id,
        }
        # Only on link principals, so every other token keeps its exact shape.
        if p.link_ticket_id:
            claims["lti"] = p.link_ticket_id
        if p.link_site_id:
            claims["lsi"] = p.link_site_id
        if p.staff_role:
            claims["srl"] = p.staff_role
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires


class TokenVerifier:
    """Every service's half: check a token and rebuild the principal."""

    _CACHE_LIMIT = 10_000

    def __init__(self, public_keys: list[Ed25519PublicKey]) -> None:
        # Several keys let an operator rotate identity's key without a window of refused tokens.
        self._keys = public_keys
        # The gateway reuses a principal's token for its whole life; checking the signature once per token
        # instead of once per call saves most of the verification cost. Expiry is still checked every time.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            principal, expires = hit
            if time.time() < expires:
                return principal
            del self._verified[token]
        principal, expires = self._verify_signature(token)
        if len(self._verified) >= self._CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify_signature(self, token: str) -> tuple[Principal, float]:
        last: Exception | None = None
        for key in self._keys:
            try:
                c = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=AUDIENCE,
                    issuer=ISSUER,
                    options={"require": ["exp", "iat", "sub", "knd"]},
                    leeway=5,
                )
            except jwt.ExpiredSignatureError as exc:
                raise Unauthenticated("principal token expired") from exc
            except jwt.InvalidTokenError as exc:
                last = exc
                continue
            return Principal(
                kind=c["knd"],
                subject_id=c["sub"],
                customer_id=c.get("cus", ""),
                contact_id=c.get("ctc", ""),
                permissions=frozenset(c.get("prm", ())),
                customer_ids=tuple(c.get("cids", ())),
                display_name=c.get("nam", ""),
                email=c.get("eml", ""),
                session_id=c.get("sid", ""),
                link_ticket_id=c.get("lti", ""),
                link_site_id=c.get("lsi", ""),
                staff_role=c.get("srl", ""),
            ), float(c["exp"])
        raise Unauthenticated("invalid principal token") from last


def load_public_keys(pem: bytes) -> list[Ed25519PublicKey]:
    """All public keys in a PEM bundle (one or more concatenated PUBLIC KEY blocks)."""
    marker = b"-----END PUBLIC KEY-----"
    blocks = [b + marker for b in pem.split(marker) if b.strip()]
    return [load_public_key(b.strip() + b"\n") for b in blocks]


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The principal of the RPC being handled; set by the server's auth step."""
    p = _current.get()
    if p is None:
        raise Unauthenticated("this call needs a principal token")
    return p


def set_current_principal(p: Principal | None) -> contextvars.Token:
    return _current.set(p)


def reset_current_principal(token: contextvars.Token) -> None:
    _current.reset(token)


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return ((METADATA_KEY, f"Bearer {token}"),)
