"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.billing_world import BillingBase
from tests.e2e.helpers import ACME, api, api_sign_in

# One session of the demo customer's login per stack, reused by the reset below (a sign-in hashes a password).
_TOKENS: dict[int, str] = {}


@pytest.fixture(autouse=True)
def acme_language_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that switches the demo customer's login to a language keeps it on the user (SPEC H5), and every test of
    a stack shares that login: after each test on a stack, the user follows the browser again if it chose, so the
    next test reads the pages its own Accept-Language or cookie asks for."""
    yield
    if "stack" not in request.fixturenames:
        return
    stack = request.getfixturevalue("stack")
    for _ in range(2):
        token = _TOKENS.get(id(stack)) or api_sign_in(stack, ACME.login, ACME.password)
        _TOKENS[id(stack)] = token
        with api(stack, token) as c:
            me = c.get("/api/v1/me")
            if me.status_code == 401:  # signed out by the test (a password change ends other sessions)
                del _TOKENS[id(stack)]
                continue
            assert me.status_code == 200, me.text
            if me.json().get("language"):
                r = c.put("/api/v1/me/language", json={"language": ""})
                assert r.status_code == 200, r.text
        return
    raise AssertionError("the demo login could not be signed in to reset its language")


@pytest.fixture(scope="package")
def billing_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingBase]:
    """NATS, identity and the sandbox processor under the billing clusters of test_billing_crash, _exactly_once,
    _overpayment and _stripe, one after another: each module brings its own database, billing replicas (with its
    own settings) and gateway. Started once instead of four times (about 5 s each)."""
    base = BillingBase(tmp_path_factory.mktemp("billing-base")).start()
    try:
        yield base
    finally:
        base.stop()
