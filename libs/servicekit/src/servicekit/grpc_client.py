"""Outgoing gRPC: one channel per peer, every call with a deadline and the caller's principal token."""

from __future__ import annotations

import grpc

from servicekit.principal import bearer_metadata

DEFAULT_DEADLINE_SECONDS = 5.0


def open_channel(address: str) -> grpc.aio.Channel:
    """A channel that spreads calls over every address the name resolves to (a headless Service's pods), so
    scaling a service out actually spreads the load."""
    return grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
            ("grpc.keepalive_time_ms", 30_000),
            # As on the server (grpc_server.py): a streamed download waits for its reader instead of piling up
            # here ahead of it.
            ("grpc.http2.bdp_probe", 0),
            ("grpc.enable_retries", 1),
            # gRPC's default reconnect backoff grows to 120 s: a peer restarted after a crash stayed unreachable
            # from this channel (every call UNAVAILABLE) for seconds after it was serving again. Capped at 2 s,
            # a restarted peer is called again within about 2 s, at the cost of one connect attempt per 2 s per
            # address while it is down.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ],
    )


def call_options(token: str | None, *, timeout: float = DEFAULT_DEADLINE_SECONDS) -> dict:
    """Keyword arguments for a stub call: deadline always, principal token when there is one."""
    opts: dict = {"timeout": timeout}
    if token:
        opts["metadata"] = bearer_metadata(token)
    return opts
