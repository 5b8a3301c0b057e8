"""A remote terminal (OpenTerminal): a shell on a pseudo-terminal in its own session, its output relayed as
TerminalOutput, input and size from the broker's commands. It closes itself at ends_at ("limit"), on CloseTerminal
("closed") and when the shell exits ("exited"). Linux and macOS only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
import time
from collections.abc import Callable

from portal.remote.v1 import agent_pb2

if sys.platform != "win32":
    import fcntl
    import pty
    import pwd
    import termios

log = logging.getLogger("portal_agent")

SUPPORTED = sys.platform != "win32"
MAX_TERMINALS = 4
READ_BYTES = 16 * 1024
KILL_GRACE_SECONDS = 2.0
# Messages waiting to be sent above which a terminal's output is no longer read (until they drain).
MAX_BACKLOG = 256
BACKLOG_PAUSE_SECONDS = 0.05

# Runs in the child, already a session leader (start_new_session): take the pty as the controlling terminal, so
# that Ctrl-C and job control reach the shell's foreground job, then become the shell.
_TRAMPOLINE = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); os.execv(sys.argv[1], sys.argv[1:])"
)

Send = Callable[[agent_pb2.ConnectRequest], None]


def user_shell() -> str:
    shell = os.environ.get("SHELL", "")
    if not shell:
        with contextlib.suppress(KeyError):
            shell = pwd.getpwuid(os.getuid()).pw_shell
    return shell if shell and os.access(shell, os.X_OK) else "/bin/sh"


def set_size(fd: int, cols: int, rows: int) -> None:
    cols = min(max(cols, 1), 1000) if cols > 0 else 80
    rows = min(max(rows, 1), 1000) if rows > 0 else 24
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    def __init__(
        self,
        command: agent_pb2.OpenTerminal,
        send: Send,
        base_env: dict[str, str],
        backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        self.session_id = command.session_id
        self.command = command
        self._send = send
        self._backlog = backlog
        self._env = base_env
        self._master: int | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self._reason: str | None = None
        self._relaying = False  # the output is being read (between opening and closing)
        self._closed = asyncio.Event()

    async def execute(self) -> None:
        """Open the terminal and relay it until it closes (reports TerminalOpened then TerminalClosed)."""
        c = self.command
        loop = asyncio.get_running_loop()
        try:
            master, slave = pty.openpty()
        except OSError as e:
            log.warning("terminal %s could not open a pty: %s", self.session_id, type(e).__name__)
            self._closed_report("failed")
            return
        self._master = master
        shell = user_shell()
        env = {**self._env, "TERM": "xterm-256color", "SHELL": shell}
        home = env["HOME"] if os.path.isdir(env["HOME"]) else "/"  # noqa: ASYNC240 - one stat
        try:
            set_size(slave, c.cols, c.rows)
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _TRAMPOLINE,
                shell,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=home,
                env=env,
                start_new_session=True,
            )
        except OSError as e:
            log.warning("terminal %s could not start its shell: %s", self.session_id, type(e).__name__)
            os.close(master)
            self._master = None
            self._closed_report("failed")
            return
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        log.info("terminal %s opened (pid %d)", self.session_id, self.proc.pid)
        self._send(agent_pb2.ConnectRequest(terminal_opened=agent_pb2.TerminalOpened(session_id=self.session_id)))
        self._relaying = True
        loop.add_reader(master, self._on_output)
        waiter = asyncio.create_task(self.proc.wait())
        closed = asyncio.create_task(self._closed.wait())
        remaining = None
        if c.HasField("ends_at"):
            remaining = max(0.0, c.ends_at.seconds + c.ends_at.nanos / 1e9 - time.time())
        try:
            done, _ = await asyncio.wait({waiter, closed}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                # The shell exited: relay what it wrote last before closing.
                await asyncio.sleep(0.05)
                self._drain()
                self._reason = self._reason or "exited"
            elif closed not in done:
                self._reason = "limit"
        finally:
            self._relaying = False
            closed.cancel()
            loop.remove_reader(master)
            await self._hang_up()
            with contextlib.suppress(OSError):
                os.close(master)
            self._master = None
            waiter.cancel()
        log.info("terminal %s closed (%s)", self.session_id, self._reason)
        self._closed_report(self._reason or "closed")

    def _closed_report(self, reason: str) -> None:
        self._send(
            agent_pb2.ConnectRequest(
                terminal_closed=agent_pb2.TerminalClosed(session_id=self.session_id, reason=reason)
            )
        )

    def _on_output(self) -> None:
        loop = asyncio.get_running_loop()
        if self._backlog() > MAX_BACKLOG:
            # The stream is slower than the terminal (`yes`, a large `cat`): stop reading until it catches up, so
            # the shell blocks on a full pty instead of the agent's memory growing.
            loop.remove_reader(self._master)
            loop.call_later(BACKLOG_PAUSE_SECONDS, self._resume)
            return
        try:
            data = os.read(self._master, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave end is closed (the shell and its children are gone)
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
            return
        self._output(data)

    def _resume(self) -> None:
        if self._relaying:
            asyncio.get_running_loop().add_reader(self._master, self._on_output)

    def _output(self, data: bytes) -> None:
        message = agent_pb2.TerminalOutput(session_id=self.session_id, data=data)
        self._send(agent_pb2.ConnectRequest(terminal_output=message))

    def _drain(self) -> None:
        for _ in range(64):
            try:
                data = os.read(self._master, READ_BYTES)
            except OSError:
                return
            if not data:
                return
            self._output(data)

    def write(self, data: bytes) -> None:
        if self._master is None:
            return
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and time.monotonic() < deadline:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError:
                return
            view = view[n:]

    def resize(self, cols: int, rows: int) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                set_size(self._master, cols, rows)
                if self.proc is not None and self.proc.returncode is None:
                    os.killpg(self.proc.pid, signal.SIGWINCH)

    def close(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
        self._closed.set()

    async def _hang_up(self) -> None:
        """SIGHUP to the session's process group (what a terminal hang-up does), SIGKILL 2 s later if it lives."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGHUP)
            os.killpg(proc.pid, signal.SIGCONT)
        if proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
