"""Wiring only: settings → servicekit's runtime (telemetry, metrics, database, NATS) → the billing servicer."""

from __future__ import annotations

from pathlib import Path

from billing import (
    customer_data,
    metrics,  # noqa: F401 - declares billing's business metrics, so their series exist from the start
)
from billing.config import Settings
from billing.events import handlers
from billing.grpc_api import BillingServicer
from billing.payments.processor import PaymentProcessor
from billing.payments.wiring import build_processor
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from servicekit import app
from servicekit.settings import load_settings

NAME = "billing"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name


def wire(rt: app.Runtime[Settings], processor: PaymentProcessor | None = None, *, overpayment: str = "") -> app.Wiring:
    background = []
    if processor is None:
        processor, background = build_processor(rt.settings)
    overpayment = overpayment or getattr(rt.settings, "overpayment", "refuse")
    servicer = BillingServicer(rt.db, processor, overpayment_to_credit=overpayment == "store_credit")
    wiring = app.Wiring(
        register=lambda server: billing_pb2_grpc.add_BillingServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        background=background,
        consumers=handlers.consumers(db=rt.db, metrics=rt.metrics),
        # A processor's webhook comes without a principal; its own signature is what billing checks.
        public_methods=[f"/{SERVICE}/HandleProcessorEvent"],
    )
    return customer_data.include(wiring, rt.db)


def run(argv: list[str] | None = None) -> None:
    app.main(
        name=NAME,
        settings_factory=lambda: load_settings(Settings),
        migrations_dir=MIGRATIONS_DIR,
        wire=wire,
        argv=argv,
    )
