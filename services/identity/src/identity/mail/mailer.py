"""The mailer: a background loop that sends the mail outbox over SMTP, exactly once per row.

A row is leased (locked_until) before sending, so two replicas never send the same email; it is marked
sent in the same transaction that publishes EmailSent. A failure is retried with a growing delay; a
recipient the server refuses for good is marked failed and left alone. A pass's emails share one SMTP
connection (`SmtpConnection`); each one's outcome is its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate

from identity import metrics, outbound
from identity.db import utcnow
from identity.events import publish
from identity.mail.models import OutboundEmail
from identity.mail.service import MAIL_SIGNAL
from identity.secrets import SecretBox
from servicekit.db import Database

log = logging.getLogger(__name__)
# Emails with a single-use link or a login: blanked once sent, even one queued in plain text before 0009.
_LINK_TEMPLATES = ("password_reset", "invitation", "login_details")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0


class PermanentFailure(Exception):
    """The server refused the message for good (e.g. an unknown recipient)."""


class SmtpConnection:
    """One SMTP connection, opened by the first message sent through it and reused by the next ones (STARTTLS and
    login once), all of its work in a worker thread. Used as `async with`: a clean exit says QUIT, an exception or a
    cancellation just closes the socket. A message that fails on the connection itself drops it, and the next
    message opens a new one; a refused recipient keeps it (smtplib has sent RSET)."""

    def __init__(self, transport: SmtpTransport) -> None:
        self._transport = transport
        self._smtp: smtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpConnection:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None and self._smtp is not None:
            await asyncio.to_thread(self._quit)
        else:
            self._drop()

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _open(self) -> smtplib.SMTP:
        c = self._transport.config
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        try:
            if c.starttls:
                smtp.starttls(context=self._transport.tls_context())
            if c.username:
                smtp.login(c.username, c.password)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _send(self, message: EmailMessage) -> None:
        smtp = self._smtp or self._open()
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # smtplib answered the refusal with RSET: the connection takes the next message, unless that failed.
            if smtp.sock is None:
                self._drop()
            raise PermanentFailure("recipient refused") from exc
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            self._drop()
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"refused with {exc.smtp_code}") from exc
            raise
        except BaseException:  # the connection itself (disconnected, timed out, reset …): the next one is new
            self._drop()
            raise

    def _quit(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()

    def _drop(self) -> None:
        """Close the socket without a word (no network wait: safe from the event loop)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


class SmtpTransport:
    """Sends messages with the standard library in a worker thread: `connection()` for a mailer's pass (one
    connection for all its messages), `send` for a single message on a connection of its own."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._tls: ssl.SSLContext | None = None

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def connection(self) -> SmtpConnection:
        return SmtpConnection(self)

    async def send(self, message: EmailMessage) -> None:
        async with self.connection() as connection:
            await connection.send(message)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to 5 minutes between tries."""
    return outbound.backoff(attempts, cap=300.0)


class Mailer(outbound.Sender):
    name = "mailer"

    def __init__(
        self,
        db: Database,
        transport: SmtpTransport,
        *,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 20,
        box: SecretBox | None = None,
    ) -> None:
        super().__init__(db, MAIL_SIGNAL, poll_seconds=poll_seconds, lease=lease, batch=batch)
        self._box = box
        self._transport = transport

    async def send_pending(self, *, now: datetime | None = None) -> int:
        """One pass: lease due emails, send them, record the outcome. Returns how many were leased."""
        now = now or utcnow()
        async with self._db.unit_of_work() as s:
            rows = await outbound.lease_due(s, OutboundEmail, now, lease=self._lease, batch=self._batch)
        if not rows:
            return 0
        # One connection for the pass, opened by its first message and closed (QUIT) after its last.
        async with self._transport.connection() as connection:
            for row in rows:
                await self._send_one(row, connection)
        return len(rows)

    async def _send_one(self, row: OutboundEmail, connection: SmtpConnection) -> None:
        error: Exception | None = None
        try:
            message = self._outgoing(row)
        except ValueError as exc:  # a sealed body this replica cannot open: nothing to retry with
            error = PermanentFailure(f"cannot open the sealed body ({exc})")
        else:
            try:
                await connection.send(message)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded on the row and retried
                error = exc
        async with self._db.unit_of_work() as s:
            email = await s.get(OutboundEmail, row.id)
            if email is None:
                return
            now = utcnow()
            email.attempts += 1
            email.locked_until = None
            if (email.sealed or email.template in _LINK_TEMPLATES) and (
                error is None or isinstance(error, PermanentFailure)
            ):
                # The link in it must not stay readable at rest, even encrypted, once it is of no more use here.
                email.body = ""
            if error is None:
                email.sent_at = now
                email.last_error = None
                await publish.email_sent(
                    s,
                    template=email.template,
                    recipient=email.recipient,
                    cause_event_id=email.cause_event_id,
                    customer_id=email.customer_id or "",
                )
            else:
                email.last_error = _describe(error)
                if isinstance(error, PermanentFailure):
                    email.failed_at = now
                else:
                    email.next_attempt_at = now + backoff(email.attempts)
        outcome = "sent" if error is None else "failed" if isinstance(error, PermanentFailure) else "retry"
        metrics.EMAILS.labels(row.template, outcome).inc()
        if error is None:
            log.info("email %s (%s) sent", row.id, row.template)
        else:
            log.warning("email %s (%s) not sent: %s (%s)", row.id, row.template, _describe(error), outcome)

    def _outgoing(self, row: OutboundEmail) -> EmailMessage:
        text, html = self._texts(row)
        return self._message(row, text, html)

    def _texts(self, row: OutboundEmail) -> tuple[str, str]:
        """The text and HTML bodies, the sealed ones opened (ValueError when they cannot be)."""
        if not row.sealed:
            return row.body, ""
        if self._box is None:
            raise ValueError("no secrets key")
        parts = json.loads(self._box.open(row.body))
        return parts["text"], parts.get("html", "")

    def _message(self, row: OutboundEmail, text: str, html: str) -> EmailMessage:
        c = self._transport.config
        msg = EmailMessage()
        msg["From"] = c.mail_from
        msg["To"] = row.recipient
        msg["Subject"] = row.subject
        msg["Date"] = formatdate(row.created_at.timestamp(), usegmt=True)
        msg["Message-ID"] = _message_id(row.id, c.mail_from)
        # Plain ASCII goes as 7bit so links stay whole on one line; anything else is quoted-printable.
        msg.set_content(text, cte="7bit" if text.isascii() else None)
        if html:
            msg.add_alternative(html, subtype="html")
        return msg

    async def measure_backlog(self) -> None:
        metrics.MAIL_BACKLOG.set(await outbound.backlog(self._db, OutboundEmail))


def _message_id(row_id: str, mail_from: str) -> str:
    # Stable per row: a receiving system can drop a copy if one ever goes out twice.
    return f"<{row_id}@{mail_from.rsplit('@', 1)[-1] or 'portal'}>"


def _describe(error: Exception) -> str:
    # The class and SMTP code only: server replies can echo addresses or credentials back.
    code = getattr(error.__cause__ or error, "smtp_code", None)
    name = (error.__cause__ or error).__class__.__name__
    return f"{name} {code}" if code else name
