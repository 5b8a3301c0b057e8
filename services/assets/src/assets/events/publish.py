"""The events assets publishes (messages in portal/assets/v1/events.proto), each written to the outbox in the unit
of work of the change it reports; this module imports models only. Payloads carry ids and field names, never the
values of notes or custom fields."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from assets.assets.models import Asset
from assets.credentials.models import CredentialAccess
from assets.documents.models import Document
from portal.assets.v1 import events_pb2
from servicekit.events import add_event, subject
from servicekit.principal import Principal

ASSET_CREATED = subject("assets", "asset_created")
ASSET_UPDATED = subject("assets", "asset_updated")
ASSET_RETIRED = subject("assets", "asset_retired")
DOCUMENT_ADDED = subject("assets", "document_added")
CREDENTIAL_REVEALED = subject("assets", "credential_revealed")


async def asset_created(session: AsyncSession, asset: Asset, *, by: Principal) -> str:
    """Record portal.assets.asset_created.v1 in the caller's transaction; returns the event id."""
    message = events_pb2.AssetCreated(
        asset_id=asset.id,
        name=asset.name,
        customer_id=asset.customer_id,
        site_id=asset.site_id or "",
        created_by=by.subject_id,
    )
    return await add_event(session, ASSET_CREATED, message, customer_id=asset.customer_id)


async def asset_updated(session: AsyncSession, asset: Asset, *, changed: Iterable[str], by: Principal) -> str:
    """Record portal.assets.asset_updated.v1 with the names of the changed fields."""
    message = events_pb2.AssetUpdated(
        asset_id=asset.id,
        customer_id=asset.customer_id,
        changed=list(changed),
        changed_by=by.subject_id,
        changed_by_kind=by.kind,
    )
    return await add_event(session, ASSET_UPDATED, message, customer_id=asset.customer_id)


async def asset_retired(session: AsyncSession, asset: Asset, *, by: Principal) -> str:
    """Record portal.assets.asset_retired.v1 (retired False: brought back)."""
    message = events_pb2.AssetRetired(
        asset_id=asset.id, customer_id=asset.customer_id, retired=asset.retired_at is not None, changed_by=by.subject_id
    )
    return await add_event(session, ASSET_RETIRED, message, customer_id=asset.customer_id)


async def document_added(session: AsyncSession, doc: Document) -> str:
    """Record portal.assets.document_added.v1 (names and sizes, never bytes or blob keys); returns the event id."""
    message = events_pb2.DocumentAdded(
        document_id=doc.id,
        customer_id=doc.customer_id,
        filename=doc.filename,
        content_type=doc.content_type,
        size_bytes=doc.size_bytes,
        is_public=doc.is_public,
        uploaded_by=doc.uploaded_by,
    )
    return await add_event(session, DOCUMENT_ADDED, message, customer_id=doc.customer_id)


async def credential_revealed(session: AsyncSession, entry: CredentialAccess) -> None:
    """Someone was shown a credential's password; the event says who and which, never the password."""
    kind = Principal(kind=entry.principal_kind, subject_id=entry.principal_id).to_proto().kind
    message = events_pb2.CredentialRevealed(
        credential_id=entry.credential_id, access_id=entry.id, principal_kind=kind, principal_id=entry.principal_id
    )
    await add_event(session, CREDENTIAL_REVEALED, message, customer_id=entry.customer_id)
