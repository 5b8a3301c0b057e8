"""Secure links (SPEC P6) on SQLite and PostgreSQL: hashed tokens, expiry, single use, revocation, the audit
trail of uses, and the scoped principal — in the data layer and over gRPC."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa

from identity.audit.models import AuditEntry
from identity.customers.service import delete_customer, set_archived
from identity.secure_links import service as links
from identity.secure_links.models import SecureLink
from identity.sessions.models import UserSession
from identity.sessions.service import SessionPolicy, resolve_session
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from servicekit.principal import KIND_PORTAL_USER, KIND_SECURE_LINK, Principal, TokenVerifier, bearer_metadata

from .conftest import STAFF
from .test_grpc_api import principal_token, status_of

TICKET = "5b0b7c1e-1111-4a4a-9a9a-000000000001"
SITE = "site-7"
POLICY = SessionPolicy()


async def _create(
    db: Database, customer_id: str, scope: str = "ticket", scope_id: str = TICKET, **kw
) -> links.CreatedLink:
    async with db.unit_of_work() as s:
        return await links.create_link(
            s, principal=STAFF, customer_id=customer_id, scope=scope, scope_id=scope_id, **kw
        )


async def _resolve(db: Database, token: str) -> Principal:
    async with db.unit_of_work() as s:
        _, principal = await resolve_session(s, token=token, policy=POLICY)
    return principal


async def _audit(db: Database, link_id: str) -> list[AuditEntry]:
    async with db.unit_of_work() as s:
        rows = await s.scalars(
            sa.select(AuditEntry).where(AuditEntry.subject == f"secure_link:{link_id}").order_by(AuditEntry.at)
        )
        return list(rows.all())


async def test_only_the_hash_of_the_token_is_stored(db: Database, world) -> None:
    created = await _create(db, world.customer_a)
    assert len(created.token) >= 43  # 32 random bytes, URL-safe
    async with db.unit_of_work() as s:
        row = await s.get(SecureLink, created.link.id)
        assert row.token_hash == hashlib.sha256(created.token.encode()).hexdigest()
        dumped = [str(v) for v in (await s.execute(sa.select(SecureLink.__table__))).one()]
    assert created.token not in " ".join(dumped)
    assert all(created.token not in str(e.detail) for e in await _audit(db, created.link.id))


async def test_a_ticket_link_opens_a_session_scoped_to_that_ticket(db: Database, world) -> None:
    created = await _create(db, world.customer_a)
    opened = await links.open_link(
        db, token=created.token, client_address="203.0.113.9", user_agent="Firefox/200", policy=POLICY
    )
    p = await _resolve(db, opened.token)
    assert (p.kind, p.subject_id, p.customer_id, p.customer_ids) == (
        KIND_SECURE_LINK,
        created.link.id,
        world.customer_a,
        (world.customer_a,),
    )
    assert (p.link_ticket_id, p.link_site_id) == (TICKET, "")
    assert p.permissions == frozenset({TICKETS_VIEW_ALL})
    assert not p.is_staff and not p.contact_id
    # A second visit of a reusable link opens another session; each use is audited with its client.
    again = await links.open_link(db, token=created.token, client_address="203.0.113.10", policy=POLICY)
    assert again.token != opened.token
    used = [e for e in await _audit(db, created.link.id) if e.kind == links.LINK_USED]
    assert [(e.address, e.detail["user_agent"]) for e in used] == [("203.0.113.9", "Firefox/200"), ("203.0.113.10", "")]
    async with db.unit_of_work() as s:
        row = await s.get(SecureLink, created.link.id)
        assert row.use_count == 2 and row.used_at is not None
        uses = await links.list_uses(s, principal=STAFF, link_id=created.link.id)
    assert [u.outcome for u in uses] == ["opened", "opened"]
    assert uses[0].client_address == "203.0.113.10"


async def test_site_and_customer_links_may_open_tickets(db: Database, world) -> None:
    site = await _create(db, world.customer_b, scope="site", scope_id=SITE)
    whole = await _create(db, world.customer_b, scope="customer", scope_id="")
    ps = await _resolve(db, (await links.open_link(db, token=site.token, policy=POLICY)).token)
    pc = await _resolve(db, (await links.open_link(db, token=whole.token, policy=POLICY)).token)
    assert (ps.link_site_id, ps.link_ticket_id) == (SITE, "")
    assert (pc.link_site_id, pc.link_ticket_id) == ("", "")
    assert ps.permissions == pc.permissions == frozenset({TICKETS_VIEW_ALL, TICKETS_CREATE})


async def test_an_expired_link_is_refused_and_its_sessions_end(db: Database, world) -> None:
    created = await _create(db, world.customer_a, lifetime=timedelta(minutes=1))
    opened = await links.open_link(db, token=created.token, policy=POLICY)
    await _resolve(db, opened.token)
    async with db.unit_of_work() as s:
        await s.execute(
            sa.update(SecureLink)
            .where(SecureLink.id == created.link.id)
            .values(expires_at=links.utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(Unauthenticated) as err:
        await links.open_link(db, token=created.token, client_address="203.0.113.9", policy=POLICY)
    assert links.LINK_DEAD in str(err.value)
    with pytest.raises(Unauthenticated):
        await _resolve(db, opened.token)
    refused = [e for e in await _audit(db, created.link.id) if e.kind == links.LINK_REFUSED]
    assert [(e.detail["reason"], e.address) for e in refused] == [("expired", "203.0.113.9")]
    async with db.unit_of_work() as s:
        assert links.state_of(await s.get(SecureLink, created.link.id)) == links.STATE_EXPIRED


async def test_a_revoked_link_is_refused_and_ends_its_sessions(db: Database, world) -> None:
    created = await _create(db, world.customer_a)
    opened = await links.open_link(db, token=created.token, policy=POLICY)
    async with db.unit_of_work() as s:
        await links.revoke_link(s, principal=STAFF, link_id=created.link.id)
        await links.revoke_link(s, principal=STAFF, link_id=created.link.id)  # twice changes nothing
    with pytest.raises(Unauthenticated):
        await links.open_link(db, token=created.token, policy=POLICY)
    with pytest.raises(Unauthenticated):
        await _resolve(db, opened.token)
    async with db.unit_of_work() as s:
        session = await s.scalar(sa.select(UserSession).where(UserSession.user_id == created.link.id))
        assert session.revoked_at is not None
    kinds = [e.kind for e in await _audit(db, created.link.id)]
    assert kinds.count(links.LINK_REVOKED) == 1 and kinds[-1] == links.LINK_REFUSED


async def test_a_single_use_link_opens_once(db: Database, world) -> None:
    created = await _create(db, world.customer_a, single_use=True)
    opened = await links.open_link(db, token=created.token, policy=POLICY)
    with pytest.raises(Unauthenticated):
        await links.open_link(db, token=created.token, policy=POLICY)
    # The session the one use opened keeps working until the link expires or is revoked.
    assert (await _resolve(db, opened.token)).subject_id == created.link.id
    async with db.unit_of_work() as s:
        assert links.state_of(await s.get(SecureLink, created.link.id)) == links.STATE_USED
        uses = await links.list_uses(s, principal=STAFF, link_id=created.link.id)
    assert [u.outcome for u in uses] == ["used", "opened"]


async def test_unknown_tokens_and_archived_customers_are_refused(db: Database, world) -> None:
    for token in ("", "x" * 500, "not-a-link-token"):
        with pytest.raises(Unauthenticated):
            await links.open_link(db, token=token, policy=POLICY)
    created = await _create(db, world.customer_a)
    opened = await links.open_link(db, token=created.token, policy=POLICY)
    async with db.unit_of_work() as s:
        await set_archived(s, principal=STAFF, customer_id=world.customer_a, archived=True)
    with pytest.raises(Unauthenticated):
        await links.open_link(db, token=created.token, policy=POLICY)
    with pytest.raises(Unauthenticated):
        await _resolve(db, opened.token)


async def test_staff_only_and_valid_scopes(db: Database, world) -> None:
    portal = Principal(kind=KIND_PORTAL_USER, subject_id=world.alice, customer_id=world.customer_a)
    async with db.unit_of_work() as s:
        with pytest.raises(PermissionDenied):
            await links.create_link(s, principal=portal, customer_id=world.customer_a, scope="customer")
        with pytest.raises(PermissionDenied):
            await links.list_links(s, principal=portal, customer_id=world.customer_a)
        with pytest.raises(InvalidArgument):
            await links.create_link(s, principal=STAFF, customer_id=world.customer_a, scope="invoice", scope_id="x")
        with pytest.raises(InvalidArgument):
            await links.create_link(s, principal=STAFF, customer_id=world.customer_a, scope="ticket")
        with pytest.raises(InvalidArgument):
            await links.create_link(s, principal=STAFF, customer_id=world.customer_a, scope="customer", scope_id="x")
        with pytest.raises(InvalidArgument):
            await links.create_link(
                s, principal=STAFF, customer_id=world.customer_a, scope="customer", lifetime=timedelta(days=91)
            )
        with pytest.raises(NotFound):
            await links.create_link(s, principal=STAFF, customer_id="no-such-customer", scope="customer")
        with pytest.raises(NotFound):
            await links.revoke_link(s, principal=STAFF, link_id="no-such-link")


async def test_deleting_a_customer_deletes_its_links(db: Database, world) -> None:
    created = await _create(db, world.customer_b, scope="customer", scope_id="")
    opened = await links.open_link(db, token=created.token, policy=POLICY)
    async with db.unit_of_work() as s:
        await delete_customer(s, principal=STAFF, customer_id=world.customer_b)
    async with db.unit_of_work() as s:
        assert await s.get(SecureLink, created.link.id) is None
    with pytest.raises(Unauthenticated):
        await _resolve(db, opened.token)


async def test_over_grpc_the_token_is_shown_once_and_the_principal_carries_the_scope(
    stub, world, passwords, signing_key
) -> None:
    staff_md = bearer_metadata(await principal_token(stub, "admin@example.test", passwords["staff"], 2))
    created = await stub.CreateSecureLink(
        identity_pb2.CreateSecureLinkRequest(
            customer_id=world.customer_a,
            scope=identity_pb2.SECURE_LINK_SCOPE_SITE,
            scope_id=SITE,
            expires_in_seconds=3600,
            single_use=True,
        ),
        metadata=staff_md,
    )
    assert created.url == f"https://portal.example.test/link?token={created.token}"
    assert created.link.state == "active" and created.link.single_use
    listed = await stub.ListSecureLinks(
        identity_pb2.ListSecureLinksRequest(customer_id=world.customer_a), metadata=staff_md
    )
    assert [x.id for x in listed.links] == [created.link.id]
    assert created.token not in str(listed)
    assert created.token not in str(created.link)

    opened = await stub.OpenSecureLink(
        identity_pb2.OpenSecureLinkRequest(token=created.token, client_address="203.0.113.7", user_agent="UA/1")
    )
    assert opened.principal.kind == common_pb2.PRINCIPAL_KIND_SECURE_LINK
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=opened.session_token))
    p = TokenVerifier([signing_key.public_key()]).verify(resolved.principal_token)
    assert (p.kind, p.customer_id, p.link_site_id) == (KIND_SECURE_LINK, world.customer_a, SITE)
    # A link session is no portal user: the customer record and the staff RPCs are not for it.
    link_md = bearer_metadata(resolved.principal_token)
    code, _ = await status_of(stub.GetCustomer(identity_pb2.GetCustomerRequest(), metadata=link_md))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await status_of(
        stub.ListSecureLinks(identity_pb2.ListSecureLinksRequest(customer_id=world.customer_a), metadata=link_md)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await status_of(stub.OpenSecureLink(identity_pb2.OpenSecureLinkRequest(token=created.token)))
    assert code == grpc.StatusCode.UNAUTHENTICATED

    uses = await stub.ListSecureLinkUses(
        identity_pb2.ListSecureLinkUsesRequest(link_id=created.link.id), metadata=staff_md
    )
    assert [(u.outcome, u.client_address, u.user_agent) for u in uses.uses] == [
        ("used", "", ""),
        ("opened", "203.0.113.7", "UA/1"),
    ]
    revoked = await stub.RevokeSecureLink(
        identity_pb2.RevokeSecureLinkRequest(link_id=created.link.id), metadata=staff_md
    )
    assert revoked.link.state == "revoked" and revoked.link.HasField("revoked_at")
    code, _ = await status_of(
        stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=opened.session_token))
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
