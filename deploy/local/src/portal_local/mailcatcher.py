"""A local SMTP catcher: accepts every message, keeps it in memory and shows it over HTTP.

    python -m portal_local.mailcatcher --smtp-port 1025 --http-port 8025

HTTP: `/` lists caught mail (newest first), `GET /api/messages` returns it as JSON (newest first),
`DELETE /api/messages` clears it. Tests use `MailCatcher` in-process and read `.messages` (oldest first).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import itertools
import json
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from portal_local.ports import HOST, free_port


@dataclass(frozen=True)
class CaughtMessage:
    id: int
    received_at: str  # ISO 8601, UTC
    mail_from: str
    rcpt_to: list[str]
    subject: str
    text: str  # the text/plain part; the HTML part's source when there is no plain part
    html: str = ""
    raw: bytes = field(default=b"", repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["raw"]
        return data


def _parse(raw: bytes) -> tuple[str, str, str]:
    """Subject, text and HTML of a MIME message, with encoded headers and transfer encodings decoded."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    subject = str(msg.get("subject", ""))

    def content(part: EmailMessage | None) -> str:
        if part is None:
            return ""
        try:
            return str(part.get_content())
        except (LookupError, UnicodeDecodeError):
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""

    html_body = content(msg.get_body(preferencelist=("html",)))
    text_body = content(msg.get_body(preferencelist=("plain",))) or html_body
    return subject, text_body, html_body


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self._catcher.add(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class MailCatcher:
    """SMTP server (aiosmtpd, own thread) plus an HTTP viewer (stdlib, own thread).

    Port 0 means "pick a free port"; the chosen ports are kept, so `stop()` then `start()` reuses them.
    """

    def __init__(self, smtp_port: int = 0, http_port: int = 0, host: str = HOST) -> None:
        self.host = host
        self.smtp_port = smtp_port or free_port(host)
        self.http_port = http_port or free_port(host)
        self.messages: list[CaughtMessage] = []
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._controller: Controller | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def add(self, mail_from: str, rcpt_to: list[str], raw: bytes) -> CaughtMessage:
        subject, text, html_body = _parse(raw)
        with self._cond:
            msg = CaughtMessage(
                id=next(self._ids),
                received_at=datetime.now(UTC).isoformat(timespec="seconds"),
                mail_from=mail_from,
                rcpt_to=rcpt_to,
                subject=subject,
                text=text,
                html=html_body,
                raw=raw,
            )
            self.messages.append(msg)
            self._cond.notify_all()
        return msg

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def wait_for(self, to: str | None = None, subject_contains: str = "", timeout: float = 10.0) -> CaughtMessage:
        """The newest message to `to` (any recipient when None) whose subject contains the text."""

        def match() -> CaughtMessage | None:
            for m in reversed(self.messages):
                if (to is None or to.lower() in (r.lower() for r in m.rcpt_to)) and subject_contains in m.subject:
                    return m
            return None

        with self._cond:
            found = self._cond.wait_for(match, timeout)
        if found is None:
            raise TimeoutError(
                f"no mail to {to or 'anyone'} with subject containing {subject_contains!r} "
                f"within {timeout}s; caught: {[(m.rcpt_to, m.subject) for m in self.messages]}"
            )
        return found

    def start(self) -> MailCatcher:
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.smtp_port)
        self._controller.start()
        try:
            self._http = ThreadingHTTPServer((self.host, self.http_port), _make_http_handler(self))
        except OSError:
            self._controller.stop()
            self._controller = None
            raise
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="mailcatcher-http", daemon=True)
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def render_html(self) -> str:
        rows = []
        for m in reversed(list(self.messages)):
            rows.append(
                "<article>"
                f"<h2>{html.escape(m.subject) or '(no subject)'}</h2>"
                "<dl>"
                f'<dt>Received</dt><dd><time datetime="{m.received_at}">{m.received_at}</time></dd>'
                f"<dt>From</dt><dd>{html.escape(m.mail_from)}</dd>"
                f"<dt>To</dt><dd>{html.escape(', '.join(m.rcpt_to))}</dd>"
                "</dl>"
                f"<details><summary>Message text</summary><pre>{html.escape(m.text)}</pre></details>"
                "</article>"
            )
        body = "\n".join(rows) if rows else "<p>No mail caught yet.</p>"
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Caught mail</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}"
            "article{border-bottom:1px solid #999;padding:.5rem 0}dl{display:grid;"
            "grid-template-columns:max-content 1fr;gap:0 1rem}dt{font-weight:bold}"
            "pre{white-space:pre-wrap}</style></head><body><main>"
            f"<h1>Caught mail ({len(rows)})</h1>{body}</main></body></html>"
        )


def _make_http_handler(catcher: MailCatcher) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, catcher.render_html().encode(), "text/html; charset=utf-8")
            elif path == "/api/messages":
                data = [m.to_json() for m in reversed(list(catcher.messages))]
                self._send(200, json.dumps(data).encode(), "application/json")
            else:
                self._send(404, b'{"detail": "not found"}', "application/json")

        def do_DELETE(self) -> None:
            if self.path.split("?", 1)[0] == "/api/messages":
                catcher.clear()
                self._send(204, b"", "application/json")
            else:
                self._send(404, b'{"detail": "not found"}', "application/json")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the page polls; request lines would drown the log

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portal_local.mailcatcher", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args(argv)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    catcher = MailCatcher(args.smtp_port, args.http_port, args.host).start()
    print(f"mail catcher: SMTP {args.host}:{catcher.smtp_port}, web {catcher.http_url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        catcher.stop()
        print(f"mail catcher stopped at {time.strftime('%H:%M:%S')}", flush=True)


if __name__ == "__main__":
    main()
