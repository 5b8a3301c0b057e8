"""Choosing the payment processor from settings, and the sandbox served inside billing when none is shared.

The production image leaves the sandbox out (Dockerfile): it is imported only when billing serves one itself.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator

from billing.config import Settings
from billing.payments.http_processor import SandboxProcessor
from billing.payments.processor import PaymentProcessor


def build_processor(settings: Settings) -> tuple[PaymentProcessor, list[Callable[[], Awaitable[None]]]]:
    """The processor, and the background task serving an embedded sandbox when one is needed."""
    timeout = settings.processor_timeout_seconds
    if settings.payment_processor == "stripe":
        # Loaded only here: the Stripe SDK (and requests under it) is memory that billing with another processor
        # would hold for nothing.
        from billing.payments.stripe import StripeProcessor

        assert settings.stripe_api_key is not None
        secret = settings.stripe_webhook_secret
        processor = StripeProcessor(
            settings.stripe_api_key.get_secret_value(),
            webhook_secret=secret.get_secret_value() if secret else "",
            timeout=timeout,
            base_url=settings.stripe_api_url,
            checkout=settings.stripe_checkout,
        )
        return processor, []
    if settings.sandbox_url:
        return SandboxProcessor(settings.sandbox_url, public_url=settings.sandbox_public_url, timeout=timeout), []
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.grpc_host, settings.sandbox_port))
    url = f"http://{settings.grpc_host}:{sock.getsockname()[1]}"
    processor = SandboxProcessor(url, public_url=settings.sandbox_public_url, timeout=timeout)
    return processor, [lambda: serve_sandbox(sock, settings.sandbox_state or ":memory:")]


async def serve_sandbox(sock: socket.socket, state_path: str) -> None:
    try:
        from billing.payments.sandbox import SandboxState, create_app
    except ImportError as exc:  # the production image: no sandbox in it
        raise SystemExit(
            "this build has no sandbox processor: set BILLING_PAYMENT_PROCESSOR=stripe, or BILLING_SANDBOX_URL to a "
            "shared sandbox"
        ) from exc
    import uvicorn  # only to serve the embedded sandbox

    state = SandboxState(state_path)

    class Server(uvicorn.Server):
        # The service owns SIGTERM/SIGINT; uvicorn must not take them over.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(create_app(state), access_log=False, log_level="warning", lifespan="off")
    await Server(config).serve(sockets=[sock])
