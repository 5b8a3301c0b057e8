"""Secure links as the proto carries them."""

from __future__ import annotations

from identity.secure_links import service as secure_links
from identity.secure_links.models import SCOPE_CUSTOMER, SCOPE_SITE, SCOPE_TICKET, SecureLink
from portal.identity.v1 import identity_pb2
from servicekit.protos import timestamp

LINK_SCOPES = {
    identity_pb2.SECURE_LINK_SCOPE_TICKET: SCOPE_TICKET,
    identity_pb2.SECURE_LINK_SCOPE_SITE: SCOPE_SITE,
    identity_pb2.SECURE_LINK_SCOPE_CUSTOMER: SCOPE_CUSTOMER,
}
_LINK_SCOPES_PROTO = {v: k for k, v in LINK_SCOPES.items()}


def secure_link_to_proto(link: SecureLink) -> identity_pb2.SecureLink:
    """A link as staff see it: never its token (only the hash is kept anyway, and not sent either)."""
    msg = identity_pb2.SecureLink(
        id=link.id,
        customer_id=link.customer_id,
        scope=_LINK_SCOPES_PROTO[link.scope],
        scope_id=link.scope_id,
        expires_at=timestamp(link.expires_at),
        single_use=link.single_use,
        created_by=link.created_by,
        created_at=timestamp(link.created_at),
        use_count=link.use_count,
        state=secure_links.state_of(link),
    )
    if link.used_at is not None:
        msg.used_at.CopyFrom(timestamp(link.used_at))
    if link.revoked_at is not None:
        msg.revoked_at.CopyFrom(timestamp(link.revoked_at))
    return msg


def use_to_proto(u: secure_links.LinkUse) -> identity_pb2.SecureLinkUse:
    return identity_pb2.SecureLinkUse(
        at=timestamp(u.at), client_address=u.client_address, user_agent=u.user_agent, outcome=u.outcome
    )
