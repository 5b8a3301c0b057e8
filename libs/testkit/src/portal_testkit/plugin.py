"""The fixtures. The local runner's parts are imported up front (about 0.2 s per pytest process; an import
inside a fixture would hide the dependency from the import contracts); Playwright is imported by the browser
fixture alone, since most runs never start a browser."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from portal_local.mailcatcher import MailCatcher
from portal_local.nats import NatsServer
from portal_local.s3 import WeedS3
from portal_local.seed import seed_stack
from portal_local.stack import Stack, StackConfig
from portal_testkit.browser import launch_chromium
from portal_testkit.localstripe import LocalStripe
from portal_testkit.migrated import MigratedTemplates
from portal_testkit.postgres import DIR_PREFIX, EmbeddedPostgres, reap_stale_servers

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on free ports, shared by the session.

    `.url`; `.stop()` then `.start()` (or `.restart()`) keeps the ports and the store. Tests share it,
    so give streams and durables unique names, and restart it when you stopped it.
    """
    root = tmp_path_factory.mktemp("nats")
    server = NatsServer(root / "store", log_path=root / "nats.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedS3]:
    """A real S3 server (SeaweedFS `weed mini`) on free loopback ports with one bucket, shared by the session and
    by the `stack`'s services.

    `.endpoint`, `.bucket`, `.env()` (AWS_* for a client), `.store_url(prefix)` (a servicekit blob store URL:
    give each test its own prefix). `.kill()` then `.start()` keeps the ports and the data; a test that stops it
    starts it again.
    """
    root = tmp_path_factory.mktemp("s3")
    server = WeedS3(root / "data", log_path=root / "s3.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """localstripe, the Stripe emulator, as a real process on a loopback port, shared by the session (`.url`,
    `.api_key`, `.register_webhook()`, `.idempotency_keys()`); see portal_testkit/localstripe.py."""
    server = LocalStripe(tmp_path_factory.mktemp("localstripe") / "localstripe.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL server for the session; `.new_database(name)` gives a fresh database's URL."""
    # Not under pytest's basetemp: every pytest start resets /tmp/pytest-of-<user> to 0700, which would
    # lock the postgres system user out of its data dir while another pytest runs beside this one.
    reap_stale_servers()
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix=DIR_PREFIX))).skip_disk_flushes()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def new_database(postgres: EmbeddedPostgres) -> Callable[[str], str]:
    """`new_database(name) -> "postgresql+asyncpg://..."`: a fresh, empty database on the session server."""
    return postgres.new_database


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database's SQLAlchemy async URL; the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    # Looked up lazily so a run that selects only the sqlite cases never starts PostgreSQL.
    pg: EmbeddedPostgres = request.getfixturevalue("postgres")
    url = pg.new_database(request.node.originalname)
    yield url
    # Dropped while its pages are still in memory: kept, the session's ~600 databases of ~9 MB each were written
    # out to disk during the run and deleted at its end.
    pg.drop_database(url)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplates:
    """`await migrated.apply(migrations_dir, db_url)`: the fresh database of `db_url` with a service's migrations
    applied, copied from a database migrated once per session and engine (portal_testkit/migrated.py)."""
    return MigratedTemplates(tmp_path_factory.mktemp("migrated"))


@pytest.fixture
def smtp_catcher() -> Iterator[MailCatcher]:
    """The mail catcher in-process on free ports: `.smtp_port`, `.http_url`, `.messages`, `.wait_for(to=...)`."""
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture(scope="session")
def stack_config(tmp_path_factory: pytest.TempPathFactory, s3_server: WeedS3) -> StackConfig:
    """Config of the session's `stack`; override this fixture in a conftest to change env or processes. The
    services that keep files use the session's `s3_server`. The gateway trusts X-Forwarded-For from loopback, as a
    deployment trusts its ingress: a test's client stands in for the proxy when it names the browser's address
    (the per-address sign-in limit, test_account_password); without the header the peer is the client, as always.
    test_runner_supervision.py checks the untrusted default on a stack of its own.

    Remote runs as two replicas: the gateway talks to the first, and the remote tests enrol their agents with the
    second, so every run and terminal they drive crosses replicas through NATS (issue 14). Remote sessions end
    after 15 s, so a test sees the time limit happen. The gateway runs as two replicas too (`stack.gateway_urls`):
    the read cache's tests (tests/e2e/test_read_cache.py) write through one and read through the other."""
    return StackConfig(
        var_dir=tmp_path_factory.mktemp("stack-var"),
        free_ports=True,
        s3=s3_server,
        remote_replicas=2,
        gateway_replicas=2,
        env={
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
            "REMOTE_SESSION_MAX_MINUTES": "0.25",
            # Web push to the tests' local push service (portal_testkit.webpush) over http on loopback.
            "IDENTITY_PUSH_INSECURE_HOSTS": "127.0.0.1",
        },
    )


@pytest.fixture(scope="session")
def stack(stack_config: StackConfig) -> Iterator[Stack]:
    """The whole platform as real processes on free ports, started and seeded; stopped at session end."""
    with Stack(stack_config) as running:
        if {"identity", "tickets"} <= set(running.enabled):
            seed_stack(running)
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, through Playwright's async API; one browser for the session."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await launch_chromium(pw)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in its own browser context (own cookies), closed after the test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()
