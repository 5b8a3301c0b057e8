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
from billing.payments.reconciler import Reconciler
from billing.payments.wiring import build_processor
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from servicekit import app
from servicekit.settings import load_settings

NAME = "billing"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name


def wire(
    rt: app.Runtime[Settings],
    processor: PaymentProcessor | None = None,
    *,
    overpayment: str = "",
    reconcile: bool = True,
) -> app.Wiring:
    """`processor`, `overpayment` and `reconcile=False` (no background passes; a test runs them itself) are
    for tests that serve the servicer over their own database; the process takes them from its settings."""
    background = []
    if processor is None:
        processor, background = build_processor(rt.settings)
    settings = rt.settings
    overpayment = overpayment or getattr(settings, "overpayment", "refuse")
    reconciler = Reconciler(
        rt.db,
        processor,
        stale_after=getattr(settings, "reconcile_after_seconds", 60.0),
        recheck_for=getattr(settings, "reconcile_recheck_seconds", 600.0),
    )
    if reconcile:
        interval = getattr(settings, "reconcile_interval_seconds", 30.0)
        background.append(lambda: reconciler.loop(interval))
    servicer = BillingServicer(
        rt.db,
        processor,
        reconciler,
        overpayment_to_credit=overpayment == "store_credit",
        provider_name=getattr(settings, "provider_name", ""),
        provider_address=getattr(settings, "provider_address_lines", ()),
    )
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
