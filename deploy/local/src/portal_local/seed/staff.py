"""The demo technician (SPEC S1), made as an admin would: the bootstrap admin invites it through identity, and the
seed accepts the invitation with the link from the local mail catcher, choosing the published demo password.
Technicians need no MFA, so `make run` prints a login that works at once."""

from __future__ import annotations

import json
import re
import time
import urllib.request

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.seed.rpc import SeedError, call

DEMO_TECHNICIAN_EMAIL = "tech@example.test"
DEMO_TECHNICIAN_PASSWORD = "demo-tech-123"  # noqa: S105 (published demo login, dev only)
DEMO_TECHNICIAN_NAME = "Terry Technician"
_LINK = re.compile(r"/staff/invitation\?token=([A-Za-z0-9_-]+)")


def _invitation_token(mail_url: str, email: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{mail_url}/api/messages", timeout=5) as answer:  # noqa: S310 (local catcher)
            messages = json.loads(answer.read())
        for message in messages:
            if email in message.get("rcpt_to", []):
                found = _LINK.search(message.get("text", ""))
                if found:
                    return found.group(1)
        time.sleep(0.2)
    raise SeedError(f"no staff invitation for {email} reached the mail catcher within {timeout:.0f}s")


def seed_technician(identity: identity_pb2_grpc.IdentityServiceStub, staff_token: str, mail_url: str) -> None:
    call(
        identity.InviteStaffUser,
        identity_pb2.InviteStaffUserRequest(
            email=DEMO_TECHNICIAN_EMAIL,
            name=DEMO_TECHNICIAN_NAME,
            role="technician",
            idempotency_key="seed-demo-technician",
        ),
        f"InviteStaffUser({DEMO_TECHNICIAN_EMAIL})",
        staff_token,
    )
    token = _invitation_token(mail_url, DEMO_TECHNICIAN_EMAIL, timeout=30.0)
    call(
        identity.AcceptStaffInvitation,
        identity_pb2.AcceptStaffInvitationRequest(token=token, new_password=DEMO_TECHNICIAN_PASSWORD),
        f"AcceptStaffInvitation({DEMO_TECHNICIAN_EMAIL})",
    )
