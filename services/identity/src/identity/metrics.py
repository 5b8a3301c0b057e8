"""Identity's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from identity.sessions.models import AUDIENCE_PORTAL, AUDIENCE_STAFF

SUCCEEDED = "succeeded"
FAILED = "failed"

SIGN_INS = Counter("portal_identity_sign_ins", "Sign-in attempts", ["audience", "outcome"])
EMAILS = Counter("portal_identity_emails", "Emails the mailer tried to send", ["template", "outcome"])
MAIL_BACKLOG = Gauge("portal_identity_mail_backlog", "Emails waiting to be sent")

# Every audience and outcome exports 0 from the start, so rates and failure ratios have data before the first
# failed (or first staff) sign-in.
for _audience in (AUDIENCE_PORTAL, AUDIENCE_STAFF):
    for _outcome in (SUCCEEDED, FAILED):
        SIGN_INS.labels(_audience, _outcome)
