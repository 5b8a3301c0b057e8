"""The events assets publishes (messages in portal/assets/v1/events.proto) and those it consumes.

Nothing publishes yet: assets are not created through the service in this slice. When they are,
`servicekit.events.add_event(session, ASSET_CREATED, events_pb2.AssetCreated(...), customer_id=...)`
goes in the same unit of work as the new asset. Assets consumes no events yet.
"""

from __future__ import annotations

from servicekit.events import subject

ASSET_CREATED = subject("assets", "asset_created")
