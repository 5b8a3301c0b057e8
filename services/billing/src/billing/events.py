"""The events billing publishes (messages in portal/billing/v1/events.proto) and those it consumes.

Nothing publishes yet: invoices are not created through the service in this slice. When they are,
`servicekit.events.add_event(session, INVOICE_CREATED, events_pb2.InvoiceCreated(...), customer_id=...)`
goes in the same unit of work as the new invoice. Billing consumes no events yet.
"""

from __future__ import annotations

from servicekit.events import subject

INVOICE_CREATED = subject("billing", "invoice_created")
