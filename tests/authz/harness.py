"""The authorisation matrix: a declarative table of gateway routes and the permissions that open them.

Each feature lists its routes in its own `tests/authz/routes_<feature>.py` as `ROUTES = [Route(...), ...]`;
`test_matrix.py` finds every such file, and for each route checks, against the session's running `stack`:

- a user whose group holds one of the permissions that open the route succeeds (once per such permission);
- a user whose group holds every other permission of the catalogue is refused (403 or 404), and for a route that
  also `requires` permissions, so is a user holding every permission but one of those;
- for routes about one record: a user of another customer, with every permission, gets 404 for it;
- the same answers hold when the route's backend RPC is called over gRPC with that user's principal token;
- without a session the route is refused (401 for the API, a redirect to sign-in for pages).

`test_coverage.py` fails when the gateway has a route that is neither registered nor declared public.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tests.authz.world import AuthzWorld, Customer

# (world, owning customer) -> the id of a record of that customer, linked to its harness contact; or, for a path
# with several parameters, {parameter: value} (the id_param's value is the record id given to the gRPC probe).
Record = str | dict[str, str]
MakeId = Callable[["AuthzWorld", "Customer"], Record]
# (world, owning customer, session token of the calling user) -> a record that user made itself.
MakeIdAs = Callable[["AuthzWorld", "Customer", str], Record]
# (grpc address lookup, principal token, record id or "") -> raises grpc.RpcError when refused.
GrpcProbe = Callable[[Callable[[str], str], str, str], Any]
# (world, owning customer, record id) -> asserts that an allowed write really happened.
Effect = Callable[["AuthzWorld", "Customer", str], None]

SIGNED_IN = None  # `allowed_by=SIGNED_IN`: any signed-in portal user may open the route


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    # FastAPI's path template, e.g. "/api/v1/tickets/{ticket_id}".
    path: str
    # The route opens for a user holding ANY ONE of these; SIGNED_IN for every portal user.
    allowed_by: tuple[str, ...] | None
    # The path parameter holding a record of the customer, and how to make one.
    id_param: str | None = None
    make_id: MakeId | None = None
    # JSON body for API writes; form fields for page posts (the harness adds the session's CSRF token). A string
    # value "{name}" is replaced by that value of a dict record.
    json: dict[str, Any] | None = None
    # Multipart files for API uploads: {field: (filename, bytes, content type)}.
    files: dict[str, tuple[str, bytes, str]] | None = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # The backend RPC behind the route, called with the user's principal token.
    grpc: GrpcProbe | None = None
    ok_statuses: tuple[int, ...] = (200, 201, 204)
    # The route consumes its record (delete, a one-time decision): every case, and the gRPC probe after the HTTP
    # request, gets a record of its own, so an allowed case never meets one an earlier case already used up.
    fresh_record: bool = False
    # Checked after an allowed request succeeded, e.g. that a deleted record is gone.
    effect: Effect | None = None
    # Needed as well, all of them, besides any one of allowed_by (e.g. running a script on an asset: Assets - Run
    # Script and one of Assets - View All / View Mine). Every allowed case holds them; each has a refused case.
    requires: tuple[str, ...] = ()
    # For records only their maker may use (a remote session only its opener ends): an allowed case's record is made
    # by the calling user with this; the refused cases get make_id's, made by another user.
    make_id_as: MakeIdAs | None = None

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, record: Record = "") -> str:
        if self.id_param is None:
            return self.path
        values = record if isinstance(record, dict) else {self.id_param: record}
        path = self.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        return path

    def record_id(self, record: Record) -> str:
        """The id the gRPC probe is given: the id_param's value."""
        if isinstance(record, dict):
            return record[self.id_param or ""]
        return record

    @staticmethod
    def fill(body: dict[str, Any] | None, record: Record) -> dict[str, Any] | None:
        """A JSON body or form with its "{name}" values taken from a dict record."""
        if body is None or not isinstance(record, dict):
            return body
        out: dict[str, Any] = {}
        for key, value in body.items():
            if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in record:
                value = record[value[1:-1]]
            out[key] = value
        return out


def all_routes() -> list[Route]:
    """Every Route in every tests/authz/routes_*.py, in file order."""
    import tests.authz as package

    routes: list[Route] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("routes_"):
            module = importlib.import_module(f"tests.authz.{info.name}")
            routes.extend(module.ROUTES)
    return routes


def all_public() -> set[tuple[str, str]]:
    """(method, path) pairs that need no portal permission, from every routes_*.py's optional PUBLIC."""
    import tests.authz as package

    public: set[tuple[str, str]] = set()
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("routes_"):
            module = importlib.import_module(f"tests.authz.{info.name}")
            public |= set(getattr(module, "PUBLIC", ()))
    return public


def all_staff_prefixes() -> tuple[str, ...]:
    import tests.authz as package

    prefixes: list[str] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("routes_"):
            module = importlib.import_module(f"tests.authz.{info.name}")
            prefixes += list(getattr(module, "STAFF_PREFIXES", ()))
    return tuple(prefixes)


def all_websockets() -> set[str]:
    """WebSocket paths, from every routes_*.py's optional WEBSOCKETS: not HTTP routes, so outside the matrix; each
    module that declares one tests its refusals itself."""
    import tests.authz as package

    paths: set[str] = set()
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("routes_"):
            module = importlib.import_module(f"tests.authz.{info.name}")
            paths |= set(getattr(module, "WEBSOCKETS", ()))
    return paths


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
