"""The events assets publishes (messages in portal/assets/v1/events.proto), each written to the outbox in the unit
of work of the change it reports; this module imports models only.

Nothing publishes yet: assets are not created through the service in this slice. When they are, a function here
(`asset_created(session, asset)`) calls `servicekit.events.add_event(session, ASSET_CREATED,
events_pb2.AssetCreated(...), customer_id=...)` in the same unit of work as the new asset.
"""

from __future__ import annotations

from servicekit.events import subject

ASSET_CREATED = subject("assets", "asset_created")
