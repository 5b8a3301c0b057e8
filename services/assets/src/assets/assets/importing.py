"""CSV import of a customer's assets (onboarding): every row is checked first, and either all rows become assets or
none do, with the errors of each bad row. Admin only. The function takes the caller's session and never commits.

Columns (header row, case-insensitive): name (required), serial, type, site (a site's name: an unknown name
becomes a new site of the customer), contact (a contact id), notes; every other column becomes a custom field
(not customer-editable) on the rows where it has a value."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assets.assets import service as assets
from assets.assets.models import Asset
from assets.checks import clean_id, clean_key, clean_text, require_admin, require_staff
from assets.events import publish
from assets.sites.models import Site
from assets.sites.service import NAME_MAX as SITE_NAME_MAX
from servicekit.errors import InvalidArgument, ServiceError
from servicekit.principal import Principal

CSV_MAX_BYTES = 1024 * 1024
ROWS_MAX = 2_000
COLUMNS = {
    "name": "name",
    "serial": "serial_number",
    "serial_number": "serial_number",
    "type": "asset_type",
    "asset_type": "asset_type",
    "site": "site",
    "contact": "contact_id",
    "contact_id": "contact_id",
    "notes": "notes",
}


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    detail: str


@dataclass
class ImportResult:
    assets: list[Asset] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    sites_created: int = 0


async def import_csv(
    session: AsyncSession, *, principal: Principal, customer_id: str, data: bytes, idempotency_key: str = ""
) -> ImportResult:
    """Create the CSV's assets for the customer, or none of them and say why, row by row."""
    require_staff(principal)
    require_admin(principal, "import assets")
    customer_id = clean_id(customer_id, field="customer_id", required=True)
    key = clean_key(idempotency_key)
    if key and (done := await _imported(session, customer_id, key)):
        return ImportResult(assets=done)
    rows = _read(data)
    sites = {
        s.name.lower(): s for s in (await session.scalars(select(Site).where(Site.customer_id == customer_id))).all()
    }
    errors: list[RowError] = []
    checked: list[dict] = []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(_check(row))
        except ServiceError as err:
            errors.append(RowError(number, err.field or "", err.detail))
    if errors:
        return ImportResult(errors=errors)
    result = ImportResult()
    for number, row in enumerate(checked, start=1):
        site = None
        if row["site"]:
            site = sites.get(row["site"].lower())
            if site is None:
                site = Site(customer_id=customer_id, name=row["site"])
                session.add(site)
                await session.flush()
                sites[row["site"].lower()] = site
                result.sites_created += 1
        asset = Asset(
            customer_id=customer_id,
            name=row["name"],
            site_id=site.id if site else None,
            contact_id=row["contact_id"] or None,
            serial_number=row["serial_number"],
            asset_type=row["asset_type"],
            notes=row["notes"],
            custom_fields=row["custom_fields"],
            idempotency_key=f"{key}:{number}" if key else None,
        )
        session.add(asset)
        await session.flush()
        await publish.asset_created(session, asset, by=principal)
        result.assets.append(asset)
    return result


def _read(data: bytes) -> list[dict[str, str]]:
    if len(data) > CSV_MAX_BYTES:
        raise InvalidArgument(f"the CSV must be at most {CSV_MAX_BYTES // 1024} KiB", field="csv")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("the CSV must be UTF-8 text", field="csv") from exc
    if "\x00" in text:
        raise InvalidArgument("the CSV must be text, not a binary file", field="csv")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise InvalidArgument("the CSV is empty; its first row names the columns", field="csv")
        names = [h.strip() for h in header]
        lowered = [COLUMNS.get(n.lower(), n) for n in names]
        if "name" not in lowered:
            raise InvalidArgument("the CSV has no 'name' column", field="csv")
        if len(set(lowered)) != len(lowered) or any(not n for n in names):
            raise InvalidArgument("every column of the CSV needs a name of its own", field="csv")
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= ROWS_MAX:
                raise InvalidArgument(f"the CSV may hold at most {ROWS_MAX} rows", field="csv")
            if len(cells) > len(lowered):
                raise InvalidArgument(f"row {len(rows) + 1} has more cells than the header has columns", field="csv")
            rows.append(dict(zip(lowered, [*cells, *[""] * (len(lowered) - len(cells))], strict=True)))
    except csv.Error as exc:
        raise InvalidArgument(f"the CSV cannot be read: {exc}", field="csv") from exc
    if not rows:
        raise InvalidArgument("the CSV has no rows after its header", field="csv")
    return rows


def _check(row: dict[str, str]) -> dict:
    known = set(COLUMNS.values())
    custom = [
        {"name": n, "value": v, "editable_by_customer": False} for n, v in row.items() if n not in known and v.strip()
    ]
    return {
        "name": clean_text(row.get("name", ""), field="name", limit=assets.NAME_MAX, required=True),
        "serial_number": clean_text(row.get("serial_number", ""), field="serial", limit=assets.SERIAL_MAX),
        "asset_type": clean_text(row.get("asset_type", ""), field="type", limit=assets.TYPE_MAX),
        "site": clean_text(row.get("site", ""), field="site", limit=SITE_NAME_MAX),
        "contact_id": clean_id(row.get("contact_id", ""), field="contact"),
        "notes": clean_text(row.get("notes", ""), field="notes", limit=assets.NOTES_MAX, multiline=True),
        "custom_fields": assets.clean_custom_fields(custom),
    }


async def _imported(session: AsyncSession, customer_id: str, key: str) -> list[Asset]:
    query = select(Asset).where(
        Asset.customer_id == customer_id, Asset.idempotency_key.startswith(f"{key}:", autoescape=True)
    )
    found = list((await session.scalars(query)).all())
    return sorted(found, key=lambda a: int((a.idempotency_key or "0:0").rsplit(":", 1)[1]))
