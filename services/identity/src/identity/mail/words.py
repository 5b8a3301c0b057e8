"""The words of identity's built-in emails (ticket notifications, remote access requests) in the portal's languages:
`translations/<lang>.json`, checked by the completeness test (tests/i18n) like the gateway's tables. A plural entry is
{"one": ..., "other": ...} and is picked with Babel's plural rules for the language (servicekit.i18n)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from servicekit import i18n

DIR = Path(__file__).parent / "translations"


@cache
def table(lang: str) -> dict[str, str | dict[str, str]]:
    return json.loads((DIR / f"{i18n.language(lang)}.json").read_text("utf-8"))


def say(lang: str, key: str, *, count: int | None = None, **values: object) -> str:
    """The text of `key` in `lang` (English when the language is not spoken), with `values` filled in."""
    entry = table(lang)[key]
    if isinstance(entry, dict):
        entry = i18n.pick_plural(entry, count or 0, lang)
    return entry.format(**values)


def greeting(lang: str, name: str) -> str:
    return say(lang, "hello_name", name=name) if name else say(lang, "hello")
