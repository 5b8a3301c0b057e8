import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal_local.stack import StackConfig


@pytest.fixture(scope="session")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    # The services are not part of this package; the stack fixture is exercised with the parts that are.
    return StackConfig(
        var_dir=Path(tmp_path_factory.mktemp("stack")), free_ports=True, processes=["nats", "mailcatcher"]
    )


@pytest.fixture(scope="session")
async def session_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """A plain session-scoped async fixture, as other packages will write them."""
    yield asyncio.get_running_loop()
