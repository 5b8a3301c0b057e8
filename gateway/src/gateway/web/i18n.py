"""English and French: a translation table per language (with plural entries), and Babel's numbers, money,
dates and times (servicekit.i18n) in the operator's time zone. How to add a string: docs/i18n.md."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from gateway.clients.schemas import Money
from servicekit import i18n as fmt

LANGUAGES = fmt.LANGUAGES
DEFAULT_LANGUAGE = fmt.DEFAULT_LANGUAGE
LANG_COOKIE = "lang"
_DIR = Path(__file__).parent / "translations"

# A table entry is a string, or a plural entry: {"one": "...", "other": "..."} (CLDR categories, docs/i18n.md).
Entry = str | dict[str, str]


class Translator:
    """One language's words and formats. Numbers, money, dates and times go through Babel (servicekit.i18n); a time
    is shown in the operator's time zone (PORTAL_TIMEZONE)."""

    def __init__(self, lang: str, table: dict[str, Entry], fallback: dict[str, Entry]) -> None:
        self.lang = lang
        self._table = {**fallback, **table}
        # Templates read plain strings straight from here: a lookup is much cheaper than a call in Jinja.
        self.table = self._table

    def __call__(self, key: str, **values: object) -> str:
        entry = self._table.get(key, key)
        if isinstance(entry, dict):
            count = values.pop("count", 0)
            return self.plural(key, count if isinstance(count, int) else 0, **values)
        return entry.format(**values) if values else entry

    def plural(self, key: str, count: int, **values: object) -> str:
        """The form of plural entry `key` for `count` ("1 ticket", "2 tickets"; French "0 ticket"), with {count}
        written as this language writes numbers."""
        entry = self._table.get(key, key)
        text = fmt.pick_plural(entry, count, self.lang) if isinstance(entry, dict) else entry
        return text.format(**values, count=self.number(count))

    def label(self, group: str, value: str) -> str:
        """A backend word (a status, a priority) in this language; unknown ones are shown tidied up."""
        return self._table.get(f"{group}.{value.lower()}") or value.replace("_", " ").capitalize()

    def status(self, value: str) -> str:
        return self.label("status", value)

    def number(self, value: int | float) -> str:
        return fmt.number(value, self.lang)

    def money(self, m: Money | None) -> str:
        if m is None:
            return ""
        return fmt.money(m.amount_minor, m.currency, self.lang)

    def date(self, value: date | datetime | str | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return value
        return fmt.day(value, self.lang)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return fmt.moment(value, self.lang)


def load_table(lang: str) -> dict[str, Entry]:
    """`<lang>.json` plus one `<feature>.<lang>.json` per feature, so features do not share one file.

    A key defined in two files is an error rather than a silent override."""
    table: dict[str, Entry] = {}
    for path in [_DIR / f"{lang}.json", *sorted(_DIR.glob(f"*.{lang}.json"))]:
        part = json.loads(path.read_text("utf-8"))
        clash = table.keys() & part.keys()
        if clash:
            raise ValueError(f"{path.name} redefines {sorted(clash)[:5]}")
        table.update(part)
    return table


def load_translators() -> dict[str, Translator]:
    tables = {lang: load_table(lang) for lang in LANGUAGES}
    return {lang: Translator(lang, tables[lang], tables[DEFAULT_LANGUAGE]) for lang in LANGUAGES}


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The `lang` cookie when it names a language we speak, else the best Accept-Language match."""
    if cookie in LANGUAGES:
        return cookie
    if not accept_language:
        return DEFAULT_LANGUAGE
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in accept_language.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        # Strictly greater: on a tie the earlier entry wins, as browsers list them in preference order.
        if q > 0 and q > best_q:
            best, best_q = primary, q
    return best
