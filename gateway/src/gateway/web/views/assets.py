"""Asset and site rows the portal and staff templates show."""

from __future__ import annotations

from typing import NamedTuple

from gateway.clients.schemas import Asset
from gateway.web.i18n import Translator


class AssetRow(NamedTuple):
    id: str
    name: str
    serial: str
    type: str
    site: str
    site_id: str
    retired: str


def asset_row(t: Translator, a: Asset, site_names: dict[str, str] | None = None) -> AssetRow:
    """`site_names` (id → name) fills the Site column where the page knows the sites."""
    site = (site_names or {}).get(a.site_id, "") if a.site_id else ""
    return AssetRow(
        a.id,
        a.name,
        a.serial_number,
        a.asset_type,
        site,
        a.site_id,
        t.datetime(a.retired_at) if a.retired_at else "",
    )
