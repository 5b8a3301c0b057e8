"""Billing settings: BILLING_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import FilePath, SecretStr, model_validator

from servicekit.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("BILLING_")

    grpc_port: int = 50053
    # Without identity's public key no caller could be verified, so the service refuses to start.
    principal_public_key_file: FilePath
    # "sandbox" (test mode, see billing.payments.sandbox) or "stripe".
    payment_processor: Literal["sandbox", "stripe"] = "sandbox"
    # A shared sandbox processor (python -m billing.payments.sandbox); every replica must use the same one.
    # Empty: this process serves its own sandbox on sandbox_port (one replica only), keeping its tokens and
    # charges in sandbox_state (a SQLite file; empty = in memory, lost when billing stops).
    sandbox_url: str = ""
    sandbox_port: int = 0
    sandbox_state: str = ""
    # The sandbox's address as browsers reach it (for the card form), when it differs from sandbox_url.
    sandbox_public_url: str = ""
    stripe_api_key: SecretStr | None = None
    # The signing secret of the Stripe webhook endpoint (POST /webhooks/stripe on the gateway), whsec_…
    stripe_webhook_secret: SecretStr | None = None
    # Stripe's API (an emulator's address in tests).
    stripe_api_url: str = "https://api.stripe.com"
    # Cards are added on Stripe Checkout's hosted page (setup mode). False only for an emulator without Checkout
    # (localstripe): billing then starts a bare SetupIntent that the test confirms as Stripe's page would.
    stripe_checkout: bool = True
    processor_timeout_seconds: float = 5.0
    # The reconciler (billing.payments.reconciler): a payment pending for longer than reconcile_after_seconds is
    # looked up at the processor and recorded or voided; it must exceed the processor timeout, so no live request
    # is still waiting on that charge. Passes run at start and every reconcile_interval_seconds; a voided
    # payment is looked up again for reconcile_recheck_seconds, and a charge that turned up is refunded.
    reconcile_after_seconds: float = 60.0
    reconcile_interval_seconds: float = 30.0
    reconcile_recheck_seconds: float = 600.0
    # SPEC B5: an amount above an invoice's balance due is refused ("refuse"), or charged and the excess kept
    # as the customer's store credit, in the same transaction as the payment ("store_credit").
    overpayment: Literal["refuse", "store_credit"] = "refuse"
    # Who bills, printed at the top of every invoice PDF: the provider's name, and its postal address with lines
    # separated by "|" (an environment variable holds no newline comfortably), e.g. "1 Main St|Springfield 12345".
    provider_name: str = ""
    provider_address: str = ""

    @property
    def provider_address_lines(self) -> tuple[str, ...]:
        return tuple(ln.strip() for ln in self.provider_address.replace("\n", "|").split("|") if ln.strip())

    @model_validator(mode="after")
    def _processor_configured(self) -> Settings:
        if self.payment_processor == "stripe" and self.stripe_api_key is None:
            raise ValueError("BILLING_STRIPE_API_KEY is required when BILLING_PAYMENT_PROCESSOR=stripe")
        if self.reconcile_after_seconds <= self.processor_timeout_seconds:
            raise ValueError(
                "BILLING_RECONCILE_AFTER_SECONDS must be more than BILLING_PROCESSOR_TIMEOUT_SECONDS, or the "
                "reconciler could void a payment whose charge a live request is still waiting for"
            )
        if self.reconcile_interval_seconds <= 0:
            raise ValueError("BILLING_RECONCILE_INTERVAL_SECONDS must be positive")
        if self.env == "prod" and self.payment_processor == "stripe":
            if self.stripe_webhook_secret is None or not self.stripe_webhook_secret.get_secret_value():
                raise ValueError(
                    "BILLING_STRIPE_WEBHOOK_SECRET (the webhook endpoint's signing secret) is required with Stripe in "
                    "prod: without it a payment whose answer was lost is finished only by the reconciler"
                )
            if not self.stripe_checkout:
                raise ValueError("BILLING_STRIPE_CHECKOUT=false is for an emulator without Checkout, not prod")
            if not self.stripe_api_url.startswith("https://"):
                raise ValueError("BILLING_STRIPE_API_URL must be https in prod")
        if self.env == "prod" and self.payment_processor == "sandbox":
            raise ValueError(
                "the sandbox processor takes no real payments; set BILLING_PAYMENT_PROCESSOR=stripe in prod"
            )
        return self
