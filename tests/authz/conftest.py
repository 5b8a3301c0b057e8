from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.authz.world import AuthzWorld


@pytest.fixture(scope="session")
def authz_world(stack) -> Iterator[AuthzWorld]:  # noqa: ANN001
    world = AuthzWorld(stack)
    yield world
    world.close()
