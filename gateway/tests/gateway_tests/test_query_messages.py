"""`?error=`, `?done=` and the like are codes looked up in the translation table, never text shown as given
(issue 15): an unknown code shows nothing, and the processor's own words never reach the page."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest

from gateway_tests.conftest import Gateway

pytestmark = pytest.mark.asyncio

EVIL = "<script>alert('owned')</script>"
TEXT = "Your account is suspended, call +1 555 0100"

PAGES = [
    "/billing/payment-options?error=",
    "/billing/payment-options?done=",
    "/documents?done=",
    "/remote-requests?done=",
    "/tickets/tkt-1?done=",
]


def _shows(body: str, text: str) -> bool:
    return text in body or html.escape(text) in body or html.escape(text, quote=False) in body


@pytest.mark.parametrize("page", PAGES)
async def test_arbitrary_query_text_is_never_shown(gw: Gateway, page: str) -> None:
    await gw.sign_in()
    for value in (EVIL, TEXT, "billing.notice.paid"):
        r = await gw.client.get(page + quote(value))
        assert r.status_code == 200, (page, r.status_code)
        assert not _shows(r.text, value), (page, value)
        assert "alert(" not in r.text


async def test_a_known_code_shows_its_message_in_the_users_language(gw: Gateway) -> None:
    await gw.sign_in()
    r = await gw.client.get("/billing/payment-options?error=refused")
    assert "The payment processor refused the details" in r.text
    r = await gw.client.get("/billing/payment-options?error=refused", headers={"Accept-Language": "fr"})
    assert "Le prestataire de paiement a refusé ces coordonnées" in r.text


async def test_the_processors_words_become_a_generic_refusal(gw: Gateway) -> None:
    """The processor sends its own text back in `error`; with this session's `state` it is the fixed
    "refused" message, without it nothing; the text itself never appears."""
    await gw.sign_in()
    page = await gw.client.get("/billing/payment-options")
    state = re.search(r"state=([A-Za-z0-9_\-.%]+)", html.unescape(page.text)).group(1)
    back = await gw.client.get(f"/billing/payment-options/added?state={state}&error={quote(TEXT)}")
    assert back.status_code == 303 and back.headers["location"] == "/billing/payment-options?error=refused"
    # Without this session's state (or with none, a bare return) nothing was added: "no card", never a 403.
    for query in (f"?state=forged&error={quote(TEXT)}", f"?error={quote(TEXT)}", ""):
        bare = await gw.client.get(f"/billing/payment-options/added{query}")
        assert bare.status_code == 303 and bare.headers["location"] == "/billing/payment-options?error=no_token"
    shown = await gw.client.get(back.headers["location"])
    assert "The payment processor refused the details" in shown.text and TEXT not in shown.text
    r = await gw.client.get(f"/billing/pay?state={state}&error={quote(TEXT)}")
    assert not _shows(r.text, TEXT)
    r = await gw.client.get(f"/billing/payment-options?state={state}&error={quote(TEXT)}")
    assert "The payment processor refused the details" in r.text and not _shows(r.text, TEXT)
    r = await gw.client.get(f"/billing/payment-options?state=forged&error={quote(TEXT)}")
    assert "refused" not in r.text and not _shows(r.text, TEXT)
