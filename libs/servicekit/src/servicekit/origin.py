"""Where a request came from: the gateway puts the browser's address and user agent in the metadata of every gRPC
call it makes, and a service that records them (the credential access log, SPEC A5) reads them back here. They
are what the gateway saw, so they are as trustworthy as the gateway's view of the client."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CLIENT_ADDRESS_KEY = "x-portal-client-address"
USER_AGENT_KEY = "x-portal-user-agent"
ADDRESS_MAX = 64
USER_AGENT_MAX = 300


@dataclass(frozen=True)
class Origin:
    client_address: str = ""
    user_agent: str = ""


def _clean(value: str, limit: int) -> str:
    # gRPC metadata values are printable ASCII; anything else in a header is dropped rather than refused.
    return "".join(ch for ch in value[: limit * 4] if " " <= ch <= "~")[:limit]


def origin_metadata(client_address: str, user_agent: str) -> tuple[tuple[str, str], ...]:
    """The metadata entries for a call made on behalf of this client."""
    out = []
    if address := _clean(client_address, ADDRESS_MAX):
        out.append((CLIENT_ADDRESS_KEY, address))
    if agent := _clean(user_agent, USER_AGENT_MAX):
        out.append((USER_AGENT_KEY, agent))
    return tuple(out)


def origin_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Origin:
    """The origin a caller passed, empty fields when it passed none."""
    found: dict[str, str] = {}
    for key, value in metadata or ():
        if key in (CLIENT_ADDRESS_KEY, USER_AGENT_KEY) and isinstance(value, str):
            found[key] = value
    return Origin(
        client_address=_clean(found.get(CLIENT_ADDRESS_KEY, ""), ADDRESS_MAX),
        user_agent=_clean(found.get(USER_AGENT_KEY, ""), USER_AGENT_MAX),
    )
