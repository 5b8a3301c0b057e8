"""Port checks: find free ports, and refuse to start when a wanted port is taken."""

from __future__ import annotations

import errno
import random
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


# Where the OS takes the local port of every outgoing connection from (Linux's default; macOS uses 49152-65535). A
# port chosen for a server inside this range may be taken by some process's outgoing connection before the server
# binds it: a stack's services bind theirs only after their migrations, tens of seconds later, and a benchmark's
# stack once failed to start that way. So the ports chosen here come from outside it.
_EPHEMERAL_FALLBACK = (32768, 60999)
_LOWEST = 10000
_TRIES = 500


def ephemeral_range() -> tuple[int, int]:
    """The OS's range of local ports for outgoing connections (inclusive)."""
    try:
        lo, hi = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        lo, hi = (49152, 65535) if sys.platform == "darwin" else _EPHEMERAL_FALLBACK
    return lo, hi


def _candidates() -> range:
    """The ports to choose from: the widest stretch outside the outgoing-connection range, above the well-known and
    the commonly configured ones."""
    lo, hi = ephemeral_range()
    below, above = range(_LOWEST, max(_LOWEST, lo)), range(max(_LOWEST, hi + 1), 65536)
    return below if len(below) >= len(above) else above


def _bound(host: str, port: int) -> socket.socket | None:
    """A socket bound to `port` (the caller closes it), or None when something holds the port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        return None
    return s


def free_port(host: str = HOST) -> int:
    """A port the OS reports free right now, outside its range for outgoing connections (another process may still
    take it before we bind, but no outgoing connection will)."""
    return distinct_free_ports(1, host)[0]


def distinct_free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` ports the OS reports free, all different, outside its range for outgoing connections: each is held
    open until all are chosen, so the same port is never given twice."""
    candidates = _candidates()
    held: dict[int, socket.socket] = {}
    try:
        for _ in range(_TRIES):
            if len(held) == count:
                break
            port = random.choice(candidates)
            if port not in held and (s := _bound(host, port)) is not None:
                held[port] = s
        if len(held) < count:
            # A crowded machine: let the OS choose, as before (any free port, maybe inside the outgoing range).
            while len(held) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((host, 0))
                held[int(s.getsockname()[1])] = s
        return list(held)
    finally:
        for s in held.values():
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
