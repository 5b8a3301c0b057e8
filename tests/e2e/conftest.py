"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import ACME, api, api_sign_in


@pytest.fixture
def acme_language_reset(stack) -> Iterator[None]:  # noqa: ANN001
    """A test that switches the demo customer's login to French keeps it on the user (SPEC H5): afterwards the
    user follows the browser again, so later tests that sign in as it read English pages."""
    yield
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        r = c.put("/api/v1/me/language", json={"language": ""})
    assert r.status_code == 200, r.text
