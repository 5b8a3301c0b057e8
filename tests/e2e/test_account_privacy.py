"""Issue 3 (SPEC P10): the customer manages its communication preferences from the portal, in English and French."""

from __future__ import annotations

import re

import httpx

from servicekit.permissions import NON_PORTAL_USER_GROUP
from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import BLUE, api

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _page_client(stack, user) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        token = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).json()
    return httpx.Client(
        base_url=stack.gateway_url, timeout=15, headers={"Cookie": f"portal_session={token['session_token']}"}
    )


def test_privacy_settings_are_saved_and_shown_in_both_languages(stack):  # noqa: ANN001
    user = new_portal_user(stack, customer_email=BLUE.email)
    with _page_client(stack, user) as c:
        home = c.get("/")
        assert 'href="/account/privacy"' in home.text
        form = c.get("/account/privacy")
        assert form.status_code == 200
        csrf = _CSRF.search(form.text).group(1)
        try:
            saved = c.post(
                "/account/privacy",
                data={"csrf_token": csrf, "receive_billing_emails": "on", "receive_report_emails": "on"},
            )
            assert saved.status_code == 200 and 'id="privacy-saved"' in saved.text
            again = c.get("/account/privacy")
            assert re.search(r'id="receive_marketing_emails" name="receive_marketing_emails">', again.text)
            assert re.search(r'id="receive_billing_emails" name="receive_billing_emails" checked>', again.text)
            french = c.get("/account/privacy", headers={"Accept-Language": "fr"})
            assert "Paramètres de confidentialité" in french.text
        finally:
            c.post(
                "/account/privacy",
                data={
                    "csrf_token": csrf,
                    "receive_billing_emails": "on",
                    "receive_marketing_emails": "on",
                    "receive_report_emails": "on",
                },
            )


def test_without_the_permission_there_is_no_link_and_no_page(stack):  # noqa: ANN001
    user = new_portal_user(stack, group_name=NON_PORTAL_USER_GROUP)
    with _page_client(stack, user) as c:
        assert 'href="/account/privacy"' not in c.get("/").text
        assert c.get("/account/privacy").status_code == 403
