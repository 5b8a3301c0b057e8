"""The gateway's staff JSON API as the seed's later steps use it (the demo devices, the demo documents and
credentials): one bearer token, and any unexpected answer a SeedError that names the call."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from portal_local.seed.identity import DemoCustomer
from portal_local.seed.rpc import SeedError
from portal_local.stack import Stack

# Local calls must never go through an HTTP proxy set in the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TIMEOUT_SECONDS = 15.0


class StaffApi:
    def __init__(self, base_url: str, what: str) -> None:
        self.base = base_url.rstrip("/")
        # Named in every error: "demo devices", "demo documents" …
        self.what = what
        self.token = ""

    def call(self, method: str, path: str, body: object = None, *, idempotency_key: str = "") -> object:
        data = json.dumps(body).encode() if body is not None else None
        return self._send(method, path, data, "application/json", idempotency_key)

    def upload(
        self, path: str, filename: str, content: bytes, fields: dict[str, str], *, idempotency_key: str
    ) -> object:
        """A multipart/form-data POST with one file (field `file`) and plain fields."""
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        ]
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        data = b"".join(parts) + head + content + f"\r\n--{boundary}--\r\n".encode()
        return self._send("POST", path, data, f"multipart/form-data; boundary={boundary}", idempotency_key)

    def _send(self, method: str, path: str, data: bytes | None, content_type: str, idempotency_key: str) -> object:
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - our own gateway
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if idempotency_key:
            req.add_header("Idempotency-Key", idempotency_key)
        try:
            with _opener.open(req, timeout=TIMEOUT_SECONDS) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            hint = " (the gateway has no such route)" if exc.code in (404, 405) else ""
            raise SeedError(f"{self.what}: {method} {path} answered {exc.code}{hint}: {detail}") from None
        except OSError as exc:
            raise SeedError(f"{self.what}: {method} {path} failed: {exc}") from None
        return json.loads(raw) if raw else None


def items(page: object, what: str) -> list[dict]:
    if isinstance(page, list):
        return page
    if isinstance(page, dict):
        for key in ("items", "scripts", "assets", "customers"):
            if isinstance(page.get(key), list):
                return page[key]
    raise SeedError(f"{what}: unexpected list answer {str(page)[:200]}")


def signed_in(stack: Stack, what: str) -> StaffApi:
    """The staff API signed in as the stack's bootstrap staff user."""
    api = StaffApi(stack.gateway_url, what)
    answer = api.call(
        "POST", "/api/v1/staff/sessions", {"login": stack.config.staff_email, "password": stack.config.staff_password}
    )
    assert isinstance(answer, dict)
    if answer.get("next_step", "done") != "done":
        raise SeedError(f"{what}: the staff sign-in asks for MFA; start without IDENTITY_REQUIRE_STAFF_ADMIN_MFA")
    api.token = answer["session_token"]
    return api


def customer_id(api: StaffApi, demo: DemoCustomer) -> str:
    query = urllib.parse.urlencode({"q": demo.email})
    found = [
        c
        for c in items(api.call("GET", f"/api/v1/staff/customers?{query}"), api.what)
        if c.get("email", "").lower() == demo.email
    ]
    if not found:
        raise SeedError(f"{api.what}: the demo customer {demo.business_name} ({demo.email}) is not there")
    return found[0]["id"]
