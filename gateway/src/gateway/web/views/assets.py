"""Asset rows."""

from __future__ import annotations

from typing import NamedTuple

from gateway.clients.schemas import Asset
from gateway.web.i18n import Translator


class AssetRow(NamedTuple):
    name: str
    serial: str
    type: str


def asset_row(t: Translator, a: Asset) -> AssetRow:
    return AssetRow(a.name, a.serial_number, a.asset_type)
