"""Issue 2: bad input gets a clear 4xx or a form message, never a 500."""

import pytest

from tests.e2e.helpers import ACME, api, api_sign_in


@pytest.fixture(scope="module")
def client(stack):
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        yield c


@pytest.mark.parametrize(
    ("subject", "field"),
    [("", "subject"), ("   ", "subject"), ("x" * 1_000_000, "subject")],
    ids=["empty", "blank", "one-megabyte"],
)
def test_bad_subject_is_a_400_problem_naming_the_field(client, subject, field):
    r = client.post("/api/v1/tickets", json={"subject": subject, "description": "d"})
    assert r.status_code in (400, 413, 422), r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == r.status_code and body["detail"]
    if r.status_code != 413:
        assert field in r.text


def test_malformed_cursor_is_a_400_problem(client):
    r = client.get("/api/v1/tickets", params={"cursor": "not-a-cursor!!"})
    assert r.status_code == 400
    assert "cursor" in r.json()["detail"]


def test_wrong_password_is_401_problem_through_the_api(stack):
    with api(stack) as c:
        r = c.post("/api/v1/sessions", json={"login": ACME.login, "password": "wrong-password"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_form_messages_for_wrong_password_and_empty_subject(stack, page):
    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill("wrong-password")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("do not match").wait_for()
    assert "/signin" in page.url

    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")
    await page.goto(stack.gateway_url + "/tickets/new")
    await page.get_by_label("Subject").fill("   ")
    await page.get_by_label("Description").fill("Something is broken")
    # The browser's own `required` check would stop an empty field; a blank one reaches the server.
    await page.get_by_role("button", name="Create ticket").click()
    await page.get_by_role("alert").first.wait_for()
    assert "/tickets/new" in page.url or "Subject" in await page.content()
    assert await page.get_by_label("Description").input_value() == "Something is broken", "typed values are kept"
