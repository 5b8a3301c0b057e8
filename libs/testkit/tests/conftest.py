import asyncio
from collections.abc import AsyncIterator

import pytest

# No stack_config override here: `stack` is session-scoped, so the first package to start it would
# impose its config on every later test of the run. The testkit's own test shares the full stack.


@pytest.fixture(scope="session")
async def session_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """A plain session-scoped async fixture, as other packages will write them."""
    yield asyncio.get_running_loop()
