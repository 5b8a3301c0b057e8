"""What the credential pages and the JSON API share (SPEC A5, X8): field limits (the assets service enforces the same,
pinned by gateway_tests/test_credentials_limits.py), which credentials a portal group may open, when a host/URL is
shown as a link, and the Credential Access Report as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

from fastapi.responses import Response

from gateway.clients import Backends
from gateway.clients.credentials import CredentialAccess
from servicekit import i18n
from servicekit import permissions as perm
from servicekit.principal import Principal

NAME_MAX = 200
USERNAME_MAX = 320
URL_MAX = 2000
NOTES_MAX = 5000
PASSWORD_MAX = 1000
PERSON_MAX = 200
REPORT_CSV_LIMIT = 10_000
MASK = "••••••••"
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "revealed_at",
    "credential",
    "credential_id",
    "customer_id",
    "who",
    "kind",
    "principal_id",
    "client_address",
    "user_agent",
)


def may_view(principal: Principal) -> bool:
    """A portal group opens credentials with Credentials - View All or View Mine (the service decides which)."""
    return principal.is_staff or bool({perm.CREDENTIALS_VIEW_ALL, perm.CREDENTIALS_VIEW_MINE} & principal.permissions)


def link_of(url: str) -> str:
    """The host/URL as a link target when it is an http(s) URL; anything else is shown as text only."""
    lowered = url.lower()
    return url if lowered.startswith(("https://", "http://")) and " " not in url else ""


def day_range(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days: from the start of `since` to the end of `until` (both included)."""
    start = datetime.combine(since, time(), UTC) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), UTC) if until else None
    return start, end


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


async def report_entries(
    backends: Backends,
    token: str,
    *,
    customer_id: str = "",
    person: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncIterator[CredentialAccess]:
    """Every entry of the report the filters select, newest first, up to REPORT_CSV_LIMIT."""
    cursor, count = "", 0
    while True:
        page = await backends.credentials.access(
            token, customer_id=customer_id, person=person, since=since, until=until, page_size=100, cursor=cursor
        )
        for entry in page.items:
            if count >= REPORT_CSV_LIMIT:
                return
            count += 1
            yield entry
        if not page.next_cursor:
            return
        cursor = page.next_cursor


async def report_csv(
    backends: Backends, token: str, *, headers: list[str] | None = None, language: str = "en", **filters: object
) -> Response:
    """The Credential Access Report as a CSV download; fetched whole before answering, so a backend failure is an
    error answer rather than a truncated file. `headers` are the column names in `language` (the console's page;
    the API keeps CSV_COLUMNS), and a French file is separated by `;` (SPEC H5)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=i18n.csv_delimiter(language))
    w.writerow(headers or CSV_COLUMNS)
    async for e in report_entries(backends, token, **filters):  # type: ignore[arg-type]
        w.writerow(
            [
                i18n.local(e.revealed_at).isoformat(timespec="seconds") if e.revealed_at else "",
                _cell(e.credential_name),
                e.credential_id,
                e.customer_id,
                _cell(e.principal_name),
                e.principal_kind,
                e.principal_id,
                _cell(e.client_address),
                _cell(e.user_agent),
            ]
        )
    body = "\ufeff" + out.getvalue()  # the BOM makes spreadsheet programs read UTF-8 (accents) correctly
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="credential-access.csv"', "Cache-Control": "no-store"},
    )
