"""Running a script (RunScript): the body in a private temporary file, run by /bin/sh (cmd on Windows) or the
agent's own Python; never through a shell command line, so nothing in the body or the variables is interpolated
by the agent. Variables are environment variables. The process gets its own session (process group), which is
what a timeout, a CancelRun or the agent's shutdown kill."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable

from portal.remote.v1 import agent_pb2

log = logging.getLogger("portal_agent")

MAX_CONCURRENT_RUNS = 4
# When a RunScript leaves max_output_bytes or timeout_seconds at 0 (the broker always sets both).
DEFAULT_MAX_OUTPUT_BYTES = 65536
DEFAULT_TIMEOUT_SECONDS = 3600
CHUNK_BYTES = 16 * 1024
FLUSH_SECONDS = 0.1
KILL_GRACE_SECONDS = 2.0
# Once the script's own process ended, how long output still held open by a process it left behind is read.
DRAIN_AFTER_EXIT_SECONDS = 1.0

Send = Callable[[agent_pb2.ConnectRequest], None]
WINDOWS = sys.platform == "win32"


def base_environment() -> dict[str, str]:
    """The minimal environment a script starts from (the agent's own environment is not passed on)."""
    env = {
        "PATH": os.environ.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME") or os.path.expanduser("~"),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    if WINDOWS:  # cmd and most programs need these to start at all
        for name in ("SYSTEMROOT", "COMSPEC", "TEMP", "TMP", "USERPROFILE", "PATHEXT"):
            if name in os.environ:
                env[name] = os.environ[name]
    return env


def valid_env(env: dict[str, str]) -> bool:
    return all(k and "=" not in k and "\0" not in k and "\0" not in v for k, v in env.items())


class Run:
    def __init__(self, command: agent_pb2.RunScript, send: Send) -> None:
        self.command = command
        self.run_id = command.run_id
        self._send = send
        self._cancelled = asyncio.Event()
        self._stopping = False
        self.proc: asyncio.subprocess.Process | None = None
        self.sent = 0  # output bytes forwarded
        self.truncated = False

    def cancel(self, stopping: bool = False) -> None:
        self._stopping = self._stopping or stopping
        self._cancelled.set()

    def _report(self, **fields) -> None:
        self._send(agent_pb2.ConnectRequest(**fields))

    async def execute(self) -> None:
        c = self.command
        workdir = tempfile.mkdtemp(prefix="portal-agent-run-")  # 0700, private to the agent's user
        try:
            try:
                argv = self._write_script(workdir)
                env = {**base_environment(), **dict(c.env)}
                self.proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=workdir,
                    env=env,
                    start_new_session=not WINDOWS,
                    creationflags=0x00000200 if WINDOWS else 0,  # CREATE_NEW_PROCESS_GROUP
                )
            except OSError as e:
                log.warning("run %s could not start: %s", self.run_id, type(e).__name__)
                self._report(
                    run_finished=agent_pb2.RunFinished(
                        run_id=self.run_id, exit_code=-1, error=f"could not start: {e.strerror or type(e).__name__}"
                    )
                )
                return
            log.info("run %s started (%s, pid %d)", self.run_id, c.language, self.proc.pid)
            self._report(run_started=agent_pb2.RunStarted(run_id=self.run_id))
            await self._supervise()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _write_script(self, workdir: str) -> list[str]:
        c = self.command
        if c.language == "python":
            name, argv0 = "script.py", [sys.executable]
        elif WINDOWS:
            name, argv0 = "script.cmd", [os.environ.get("COMSPEC", "cmd.exe"), "/c"]
        else:
            name, argv0 = "script.sh", ["/bin/sh"]
        path = os.path.join(workdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(c.body.encode())
        return [*argv0, path]

    async def _supervise(self) -> None:
        c, proc = self.command, self.proc
        assert proc is not None and proc.stdout is not None
        limit = c.max_output_bytes if c.max_output_bytes > 0 else DEFAULT_MAX_OUTPUT_BYTES
        timeout = c.timeout_seconds if c.timeout_seconds > 0 else DEFAULT_TIMEOUT_SECONDS
        pump = asyncio.create_task(self._pump(proc.stdout, limit))
        waiter = asyncio.create_task(proc.wait())
        cancelled = asyncio.create_task(self._cancelled.wait())
        timed_out, error = False, ""
        try:
            done, _ = await asyncio.wait({waiter, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                if cancelled in done:
                    error = "stopped: the agent is shutting down" if self._stopping else "cancelled"
                else:
                    timed_out, error = True, f"timed out after {timeout} s"
                await kill_group(proc)
            else:
                # The script ended; it may have left a process behind holding the output open: read a little more.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pump), DRAIN_AFTER_EXIT_SECONDS)
        finally:
            cancelled.cancel()
        await proc.wait()
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        truncated = self.truncated
        code = proc.returncode if proc.returncode is not None else -1
        if code < 0:  # killed by a signal: report it as a shell would (128 + signal number)
            code = 128 - code
        log.info(
            "run %s finished (exit %d%s%s)",
            self.run_id,
            code,
            ", timed out" if timed_out else "",
            ", truncated" if truncated else "",
        )
        self._report(
            run_finished=agent_pb2.RunFinished(
                run_id=self.run_id, exit_code=code, timed_out=timed_out, truncated=truncated, error=error
            )
        )

    async def _pump(self, stream: asyncio.StreamReader, limit: int) -> None:
        """Forward output in chunks of at most 16 KiB, flushed at least every 100 ms while it arrives; past `limit`
        bytes keep reading (so the process never blocks on a full pipe) but drop it and note `truncated`."""
        buf = bytearray()
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal buf, last_flush
            if buf:
                self._report(run_output=agent_pb2.RunOutput(run_id=self.run_id, data=bytes(buf)))
                self.sent += len(buf)
                buf = bytearray()
            last_flush = time.monotonic()

        try:
            while True:
                wait = max(0.0, FLUSH_SECONDS - (time.monotonic() - last_flush)) if buf else None
                try:
                    data = await asyncio.wait_for(stream.read(CHUNK_BYTES), wait)
                except TimeoutError:
                    flush()
                    continue
                if not data:
                    break
                room = limit - self.sent - len(buf)
                if room < len(data):
                    self.truncated = True
                    data = data[: max(0, room)]
                while data:
                    take = data[: CHUNK_BYTES - len(buf)]
                    buf += take
                    data = data[len(take) :]
                    if len(buf) >= CHUNK_BYTES:
                        flush()
                if time.monotonic() - last_flush >= FLUSH_SECONDS:
                    flush()
        except asyncio.CancelledError:
            flush()
            raise
        flush()


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the whole process group, SIGKILL to it 2 s later if the script has not ended (on Windows the
    process tree is killed at once)."""
    if WINDOWS:
        with contextlib.suppress(OSError):
            killer = await asyncio.create_subprocess_exec(
                "taskkill",
                "/T",
                "/F",
                "/PID",
                str(proc.pid),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await killer.wait()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
    except TimeoutError:
        pass
    # Children may outlive the script's own process: the group gets SIGKILL either way.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
