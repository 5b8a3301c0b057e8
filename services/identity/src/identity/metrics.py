"""Identity's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from identity.sessions.models import AUDIENCE_PORTAL, AUDIENCE_STAFF

SUCCEEDED = "succeeded"
FAILED = "failed"

SIGN_INS = Counter("portal_identity_sign_ins", "Sign-in attempts", ["audience", "outcome"])
EMAILS = Counter("portal_identity_emails", "Emails the mailer tried to send", ["template", "outcome"])
MAIL_BACKLOG = Gauge("portal_identity_mail_backlog", "Emails waiting to be sent")

# The password-hashing pool (users.hashing): its size and bound, what waits, what it refused, how long jobs take.
HASHING_WORKERS = Gauge("portal_identity_hashing_workers", "Threads that hash passwords")
HASHING_QUEUE_BOUND = Gauge("portal_identity_hashing_queue_bound", "Most password hashes that may wait for a worker")
HASHING_WAITING = Gauge("portal_identity_hashing_waiting", "Password hashes waiting for a worker")
HASHING_REFUSED = Counter(
    "portal_identity_hashing_refused", "Password hashes refused because the queue was full (answered busy)"
)
_HASH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)
HASHING_SECONDS = Histogram("portal_identity_hashing_seconds", "Seconds one password hash took", buckets=_HASH_BUCKETS)
HASHING_WAIT_SECONDS = Histogram(
    "portal_identity_hashing_wait_seconds", "Seconds a password hash waited for a worker", buckets=_HASH_BUCKETS
)

# Every audience and outcome exports 0 from the start, so rates and failure ratios have data before the first
# failed (or first staff) sign-in.
for _audience in (AUDIENCE_PORTAL, AUDIENCE_STAFF):
    for _outcome in (SUCCEEDED, FAILED):
        SIGN_INS.labels(_audience, _outcome)

# Web push (X7, identity.push.sender): what the pusher tried, by kind and outcome (sent, gone, failed, retry).
PUSHES = Counter("portal_identity_pushes", "Web push messages the pusher tried to send", ["kind", "outcome"])
PUSH_BACKLOG = Gauge("portal_identity_push_backlog", "Web push messages waiting to be sent")
