"""Wiring only: settings → servicekit's runtime (telemetry, metrics, database, NATS) → identity's parts."""

from __future__ import annotations

from pathlib import Path

from identity import at_rest
from identity.config import Settings
from identity.customers.holders import DataHolders
from identity.events import handlers, heartbeat
from identity.grpc_api import PUBLIC_METHODS, SERVICE_NAME, IdentityServicer
from identity.mail.mailer import Mailer, SmtpTransport
from identity.push.sender import Pusher
from identity.sessions.tokens import PrincipalTokens
from identity.users import hashing
from identity.users.bootstrap import StaffBootstrap
from portal.identity.v1 import identity_pb2_grpc
from servicekit import app
from servicekit.settings import load_settings

NAME = "identity"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def wire(rt: app.Runtime[Settings]) -> app.Wiring:
    cfg = rt.settings
    hashing.configure(workers=cfg.hashing_workers, queue=cfg.hashing_queue)
    tokens = PrincipalTokens(cfg.signing_key(), cfg.principal_token_ttl_seconds)
    box = cfg.secret_box()
    vapid = cfg.vapid_key()
    secret = cfg.bootstrap_staff_password.get_secret_value()
    bootstrap = StaffBootstrap(rt.db, email=cfg.bootstrap_staff_email, password=secret)
    servicer = IdentityServicer(
        rt.db,
        tokens=tokens,
        policy=cfg.session_policy(),
        ready=bootstrap.ready,
        portal_url=cfg.portal_url,
        mfa_issuer=cfg.mfa_issuer,
        holders=DataHolders(cfg.peer_addresses(), tokens=tokens, timeout=cfg.peer_timeout_seconds),
        box=box,
        vapid=vapid,
        push_insecure_hosts=cfg.insecure_push_hosts(),
    )
    return app.Wiring(
        register=lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
        public_methods=PUBLIC_METHODS,
        consumers=handlers.consumers(db=rt.db, metrics=rt.metrics, portal_url=cfg.portal_url),
        background=[
            bootstrap.run,
            Mailer(rt.db, SmtpTransport(cfg.smtp_config()), box=box).run,
            Pusher(rt.db, vapid).run,
            # What was stored in plain text before encryption at rest (migration 0009) is dealt with once, at start.
            lambda: at_rest.migrate(rt.db, box),
            # Tells the gateways every second that the session events are flowing (issue 16).
            lambda: heartbeat.run(rt.db, rt.nats),
        ],
        verifier=tokens.verifier(),
    )


def run() -> None:
    app.main(name=NAME, settings_factory=lambda: load_settings(Settings), migrations_dir=MIGRATIONS_DIR, wire=wire)
