"""Routes that need no portal permission (sign-in, language, health), and the staff-only prefixes."""

from __future__ import annotations

import grpc

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import SIGNED_IN, Route

PUBLIC = {
    ("GET", "/signin"),
    ("POST", "/signin"),
    # Where "Signing you in…" comes back when identity was busy: the sealed attempt in its cookie is the credential.
    ("GET", "/signin/pending"),
    ("POST", "/signout"),
    ("GET", "/lang/{code}"),
    # The staff console's language switch (the staff cookie is scoped to /staff): no permission, like /lang.
    ("GET", "/staff/lang/{code}"),
    ("POST", "/api/v1/sessions"),
    ("DELETE", "/api/v1/sessions/current"),
    # Who the session is and its home: every signed-in user, shaped by its permissions (home sections are
    # checked by the home page tests).
    ("GET", "/api/v1/me"),
    ("PUT", "/api/v1/me/language"),
    ("GET", "/api/v1/home"),
    # Forgotten password and the emailed link: before sign-in by nature; the token is the credential.
    ("GET", "/forgot"),
    ("POST", "/forgot"),
    ("GET", "/reset"),
    ("POST", "/reset"),
    ("GET", "/reset/done"),
    ("GET", "/invitation"),
    ("POST", "/invitation"),
    # The second step of a sign-in: the session is not signed in yet (identity checks the session token).
    ("GET", "/mfa"),
    ("POST", "/mfa"),
    ("GET", "/mfa/enrol"),
    ("POST", "/mfa/enrol"),
    ("POST", "/api/v1/sessions/current/mfa"),
    ("POST", "/api/v1/sessions/current/mfa/enrolment"),
    ("POST", "/api/v1/sessions/current/mfa/enrolment/confirm"),
    ("GET", "/staff/signin"),
    ("POST", "/staff/signin"),
    ("GET", "/staff/signin/pending"),
    ("POST", "/staff/signout"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
}

# Staff console and staff API: portal sessions never open them (test_coverage checks a portal admin is refused).
STAFF_PREFIXES = ("/staff", "/api/v1/staff")


def grpc_get_privacy(addr, token: str, _: str) -> None:  # noqa: ANN001
    with grpc.insecure_channel(addr("identity"), options=[("grpc.enable_http_proxy", 0)]) as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).GetPrivacySettings(
            identity_pb2.GetPrivacySettingsRequest(), timeout=10, metadata=(("authorization", f"Bearer {token}"),)
        )


ROUTES = [
    Route("GET", "/account/privacy", (perm.PRIVACY_SETTINGS_MANAGE,), grpc=grpc_get_privacy),
    Route(
        "POST",
        "/account/privacy",
        (perm.PRIVACY_SETTINGS_MANAGE,),
        form={"receive_billing_emails": "on", "receive_marketing_emails": "on", "receive_report_emails": "on"},
    ),
    Route("GET", "/account/password", SIGNED_IN),
    # A wrong current password: the form is reached and answered, nothing changes.
    Route(
        "POST",
        "/account/password",
        SIGNED_IN,
        form={"current_password": "not-the-password", "new_password": "x" * 12, "confirm_password": "x" * 12},
        ok_statuses=(400,),
    ),
    # The header's Password reset (issue 15): a reset link to the signed-in user's own email.
    Route("GET", "/account/password-reset", SIGNED_IN),
    Route("POST", "/account/password-reset", SIGNED_IN, form={}, ok_statuses=(303,)),
]
