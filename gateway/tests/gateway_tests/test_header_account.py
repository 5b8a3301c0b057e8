"""The portal header's Password reset button (SPEC P3, issue 15): a POST with the CSRF token that asks identity to
email the signed-in user's own address a reset link, then says so."""

from __future__ import annotations

import pytest

from gateway_tests.conftest import Gateway, csrf_from

pytestmark = pytest.mark.asyncio


async def test_the_header_password_reset_emails_the_signed_in_user(gw: Gateway) -> None:
    await gw.sign_in()
    home = await gw.client.get("/")
    assert 'action="/account/password-reset"' in home.text and "Password reset" in home.text
    token = csrf_from(home.text)
    assert (await gw.client.post("/account/password-reset", data={})).status_code == 403  # no CSRF token
    assert gw.world.reset_requests == []
    r = await gw.client.post("/account/password-reset", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/account/password-reset?done=sent"
    email = gw.world.users["alice@acme.test"].principal.email
    assert gw.world.reset_requests == [(email, "en")]
    sent = await gw.client.get(r.headers["location"])
    assert "We emailed you a link" in sent.text and email in sent.text


async def test_the_password_reset_speaks_french_and_needs_a_session(gw: Gateway) -> None:
    signed_out = await gw.client.post("/account/password-reset", data={})
    assert signed_out.status_code in (303, 403) and gw.world.reset_requests == []
    fr = {"Accept-Language": "fr"}
    await gw.sign_in(headers=fr)
    home = await gw.client.get("/", headers=fr)
    assert "Réinitialiser le mot de passe" in home.text
    r = await gw.client.post("/account/password-reset", data={"csrf_token": csrf_from(home.text)}, headers=fr)
    assert r.status_code == 303 and gw.world.reset_requests[-1][1] == "fr"
    sent = await gw.client.get(r.headers["location"], headers=fr)
    assert "Nous vous avons envoyé un lien" in sent.text
    page = await gw.client.get("/account/password-reset", headers=fr)
    assert "M’envoyer un lien de réinitialisation" in page.text and "Nous vous avons envoyé" not in page.text


async def test_the_header_offers_two_step_verification_only_while_it_is_off(gw: Gateway) -> None:
    """SPEC P3 / issue 15: the opt-in enrolment (the existing /mfa/enrol pages) is linked from the header for a
    user without it, and not once identity says it is on."""
    await gw.sign_in()
    home = await gw.client.get("/")
    assert 'href="/mfa/enrol?next=/"' in home.text and "Set up two-step verification" in home.text
    fr = await gw.client.get("/", headers={"Accept-Language": "fr"})
    assert "Activer la vérification en deux étapes" in fr.text
    alice = gw.world.users["alice@acme.test"].principal.subject_id
    gw.world.mfa_enabled.add(alice)
    gw.app.state.sessions._entries.clear()  # the principal cache's next look-up asks identity again
    home = await gw.client.get("/")
    assert home.status_code == 200 and "/mfa/enrol" not in home.text and "Sign out" in home.text
