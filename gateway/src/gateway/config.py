"""Gateway settings: read from GATEWAY_* variables; a missing backend address or secret stops the start."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.i18n import zone
from servicekit.settings import Env

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")
# gRPC's static list of replicas, e.g. "ipv4:10.0.0.5:50053,10.0.0.6:50053": the channel's round_robin policy
# spreads calls over them, as it does over the addresses a headless Service's name resolves to.
_IPV4_LIST = re.compile(r"^ipv4:\d{1,3}(\.\d{1,3}){3}:\d{1,5}(,\d{1,3}(\.\d{1,3}){3}:\d{1,5})*$")
# Values people paste from examples; refused in prod because anyone who read the docs knows them.
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "dev", "development", "test", "placeholder", "example"}
MIN_PROD_SECRET_LENGTH = 32

BACKENDS = ("identity", "tickets", "billing", "assets", "remote")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """ "10.0.0.0/8, 192.0.2.7" → networks; ValueError naming the entry that is neither address nor CIDR."""
    out: list[Network] = []
    for item in (i.strip() for i in value.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is neither an IP address nor a CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(out)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    env: Env = "dev"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    metrics_port: int = Field(9100, ge=0, le=65535, description="0 disables the metrics listener")
    # Loopback by default (`make run`); the chart sets 0.0.0.0 so that Prometheus can scrape the pod IP.
    metrics_host: str = "127.0.0.1"
    identity_addr: str
    tickets_addr: str
    billing_addr: str
    assets_addr: str
    remote_addr: str
    nats_url: str = "nats://127.0.0.1:4222"
    session_secret: SecretStr
    public_url: str = "http://127.0.0.1:8000"
    operator_name: str = "Service Portal"
    log_level: str = "INFO"
    tracing: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: instrument HTTP and gRPC only when OTEL_* says spans are exported"
    )
    backend_timeout_seconds: float = Field(5.0, gt=0)
    # The deadline of identity's SignIn alone. It covers a full password-hashing queue (IDENTITY_HASHING_QUEUE 200
    # / 2 workers × 40 ms = 4 s on an idle 2-core machine, and × 350 ms = 35 s measured on the same machine at a
    # load average of 12: docs/identity.md), and stays under the usual 60 s proxy read timeout. Beyond the queue's
    # bound identity answers "busy" at once, and the pages and API say so with a retry (docs/operations.md).
    signin_timeout_seconds: float = Field(45.0, gt=0, le=120)
    # Global search (SPEC H4) asks tickets, billing and assets at once and waits this long for all of them: a
    # service that has not answered by then is left out and the answer says it is partial (docs/search.md).
    search_deadline_seconds: float = Field(1.5, gt=0, le=10)
    # How long a resolved session (its principal) is kept while this process hears identity's session events
    # (sign-out, password, group, deactivation, ... drop it at once: edge/sessions.py, docs/architecture.md).
    session_cache_seconds: float = Field(300.0, ge=0)
    # The principal cache's bound (least recently used first out); about 2 KB each.
    session_cache_entries: int = Field(10_000, ge=1)
    # The short TTL: how long a resolved session is kept while the events are NOT heard (NATS lost or not yet
    # reached, messages dropped), which bounds how long a session revoked elsewhere keeps working then.
    principal_cache_seconds: float = Field(5.0, ge=0)
    # The read cache of portal users' answers (clients/read_cache.py, docs/architecture.md "Performance"): at most
    # this many answers and about this many bytes; an answer is never served older than read_cache_seconds even when
    # no event moved its version (a safety net for changes no event announces). 0 entries or 0 seconds: off.
    read_cache_entries: int = Field(5000, ge=0)
    read_cache_bytes: int = Field(16 * 1024 * 1024, ge=0)
    read_cache_seconds: float = Field(30.0, ge=0)
    # The page cache (edge/page_cache.py): signed-in portal pages built from cached reads only, kept as sent while
    # nothing they were built from changed; bounded by pages and bytes. 0 turns it off (it is off too while the read
    # cache is).
    page_cache_entries: int = Field(2000, ge=0)
    page_cache_bytes: int = Field(8 * 1024 * 1024, ge=0)
    readiness_cache_seconds: float = Field(2.0, ge=0)
    # The HTTP server (server.py): uvloop or the standard asyncio loop; worker processes sharing the port (each
    # with its own channels, caches and event subscriptions, like replicas); how long an idle keep-alive
    # connection stays open (keep it above the ingress/load balancer's idle timeout so it closes them, not us).
    loop: Literal["uvloop", "asyncio"] = "uvloop"
    workers: int = Field(1, ge=1, le=64)
    keep_alive_seconds: float = Field(75.0, gt=0, le=3600)
    # What the process holds once its app is made (modules, routes, templates) moved out of the garbage collector's
    # sight (gc.freeze, server.py says why): a full collection then walks what came after, mostly the caches.
    gc_freeze: bool = True
    # How often each backend's health is checked for portal_gateway_backend_up when nothing probes /readyz.
    backend_health_interval_seconds: float = Field(10.0, ge=0, description="0 checks only on /readyz")
    max_body_bytes: int = Field(2 * 1024 * 1024, gt=0)
    # The largest file an upload route takes (edge/limits.py: those routes allow it plus max_body_bytes). Keep it at
    # or above the services' own limits (TICKETS_MAX_ATTACHMENT_BYTES), which give the clearer message.
    max_upload_bytes: int = Field(25 * 1024 * 1024, gt=0)
    # Proxies in front of the gateway whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated
    # (the chart's ingress.trustedProxies). Empty: none, the TCP peer is the client (gateway/edge/proxies.py).
    trusted_proxies: str = ""
    # The operator's time zone, shared with every service (servicekit.i18n, docs/i18n.md): pages, emails and PDFs
    # show times in it. Read from PORTAL_TIMEZONE (no GATEWAY_ prefix: one setting for the whole deployment).
    timezone: str = Field("UTC", validation_alias="PORTAL_TIMEZONE", description="IANA name, e.g. Europe/Paris")
    # SPEC R1: when set, the portal's Remote action links here (the operator's own remote tool) instead of the
    # built-in terminal; `{asset_id}` and `{asset_name}` are replaced with the URL-quoted values.
    remote_url_template: str = ""
    # What the staff console prints in `portal-agent enrol --server …`: the agents' endpoint of remote
    # (REMOTE_AGENT_PORT, behind TLS in production) as devices reach it.
    agent_public_address: str = "localhost:50065"

    @field_validator("identity_addr", "tickets_addr", "billing_addr", "assets_addr", "remote_addr")
    @classmethod
    def _host_port(cls, value: str) -> str:
        value = value.strip()
        if not (_ADDRESS.match(value) or _IPV4_LIST.match(value)):
            raise ValueError(f"expected host:port (or ipv4:ip:port,ip:port,...), got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value.strip() or "UTC")
        return value.strip() or "UTC"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a clear error at start for an entry that is neither address nor CIDR
        return value

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @field_validator("session_secret")
    @classmethod
    def _refuse_weak_secret_in_prod(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        secret = value.get_secret_value()
        if not secret:
            raise ValueError("must not be empty")
        if info.data.get("env") == "prod":
            lowered = secret.lower()
            if len(secret) < MIN_PROD_SECRET_LENGTH or lowered in _PLACEHOLDER_SECRETS or "change" in lowered:
                raise ValueError(
                    f"too short or a placeholder; env=prod needs at least {MIN_PROD_SECRET_LENGTH} random "
                    "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        return value

    def backend_address(self, name: str) -> str:
        return getattr(self, f"{name}_addr")
