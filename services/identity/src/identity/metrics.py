"""Identity's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SIGN_INS = Counter("portal_identity_sign_ins", "Sign-in attempts", ["audience", "outcome"])
EMAILS = Counter("portal_identity_emails", "Emails the mailer tried to send", ["template", "outcome"])
MAIL_BACKLOG = Gauge("portal_identity_mail_backlog", "Emails waiting to be sent")
