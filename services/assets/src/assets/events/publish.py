"""The events assets publishes (messages in portal/assets/v1/events.proto), each written to the outbox in the unit
of work of the change it reports; this module imports models only.

Assets are not announced yet: when they are, a function here (`asset_created(session, asset)`) calls
`servicekit.events.add_event(session, ASSET_CREATED, events_pb2.AssetCreated(...), customer_id=...)` in the same
unit of work as the new asset.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from assets.credentials.models import CredentialAccess
from portal.assets.v1 import events_pb2
from servicekit.events import add_event, subject
from servicekit.principal import Principal

ASSET_CREATED = subject("assets", "asset_created")
CREDENTIAL_REVEALED = subject("assets", "credential_revealed")


async def credential_revealed(session: AsyncSession, entry: CredentialAccess) -> None:
    """Someone was shown a credential's password; the event says who and which, never the password."""
    kind = Principal(kind=entry.principal_kind, subject_id=entry.principal_id).to_proto().kind
    message = events_pb2.CredentialRevealed(
        credential_id=entry.credential_id, access_id=entry.id, principal_kind=kind, principal_id=entry.principal_id
    )
    await add_event(session, CREDENTIAL_REVEALED, message, customer_id=entry.customer_id)
