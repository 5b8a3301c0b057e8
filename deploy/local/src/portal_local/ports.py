"""Port checks: find free ports, and refuse to start when a wanted port is taken."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port the OS reports free right now (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def distinct_free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` ports the OS reports free, all different: each is held open until all are chosen, because ports
    chosen one at a time may repeat (the OS can hand back a port it reported free a moment ago)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def port_is_free(port: int, host: str = HOST) -> bool:
    # SO_REUSEADDR mirrors what the servers themselves set, so a lingering TIME_WAIT socket from a
    # previous run does not count as busy; only a live listener does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


@dataclass(frozen=True)
class PortWant:
    """One port some process wants, and how the user can move it elsewhere."""

    port: int
    what: str  # e.g. "identity gRPC"
    env_var: str = ""  # e.g. "IDENTITY_GRPC_PORT"
    flag: str = ""  # e.g. "--identity-grpc-port"

    def how_to_change(self) -> str:
        ways = [w for w in (self.flag and f"the {self.flag} flag", self.env_var and f"${self.env_var}") if w]
        return " or ".join(ways) if ways else "the port configuration"


class PortInUseError(RuntimeError):
    def __init__(self, busy: list[PortWant], host: str = HOST) -> None:
        self.busy = busy
        lines = [
            f"port {w.port} on {host} is already in use; {w.what} wants it (choose another with {w.how_to_change()})"
            for w in busy
        ]
        super().__init__("cannot start: " + "; ".join(lines))


def check_ports_free(wants: Iterable[PortWant], host: str = HOST) -> None:
    """Raise PortInUseError naming every busy port, before anything has been started."""
    wants = list(wants)
    seen: dict[int, PortWant] = {}
    duplicates: list[str] = []
    for w in wants:
        if w.port in seen:
            duplicates.append(f"port {w.port} is configured for both {seen[w.port].what} and {w.what}")
        seen.setdefault(w.port, w)
    if duplicates:
        raise ValueError("; ".join(duplicates))
    busy = [w for w in wants if not port_is_free(w.port, host)]
    if busy:
        raise PortInUseError(busy, host)
