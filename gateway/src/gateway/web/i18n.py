"""English and French: a small translation table per language, plus money and date formatting."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from gateway.clients.schemas import Money

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "lang"
_DIR = Path(__file__).parent / "translations"

# Digits after the decimal point where ISO 4217 says other than 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3, "JOD": 3}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "JPY": "¥", "CHF": "CHF"}
_NBSP = "\u00a0"
_NNBSP = "\u202f"


class Translator:
    def __init__(self, lang: str, table: dict[str, str], fallback: dict[str, str]) -> None:
        self.lang = lang
        self._table = {**fallback, **table}
        # Templates read plain strings straight from here: a lookup is much cheaper than a call in Jinja.
        self.table = self._table
        self._months = self._table["months"].split(",")

    def __call__(self, key: str, **values: object) -> str:
        text = self._table.get(key, key)
        return text.format(**values) if values else text

    def label(self, group: str, value: str) -> str:
        """A backend word (a status, a priority) in this language; unknown ones are shown tidied up."""
        return self._table.get(f"{group}.{value.lower()}") or value.replace("_", " ").capitalize()

    def status(self, value: str) -> str:
        return self.label("status", value)

    def money(self, m: Money | None) -> str:
        if m is None:
            return ""
        exp = _EXPONENTS.get(m.currency, 2)
        sign = "-" if m.amount_minor < 0 else ""
        units, minor = divmod(abs(m.amount_minor), 10**exp)
        if self.lang == "fr":
            number = f"{units:,}".replace(",", _NNBSP) + (f",{minor:0{exp}d}" if exp else "")
            return f"{sign}{number}{_NBSP}{_SYMBOLS.get(m.currency, m.currency)}"
        number = f"{units:,}" + (f".{minor:0{exp}d}" if exp else "")
        symbol = _SYMBOLS.get(m.currency)
        return f"{sign}{symbol}{number}" if symbol else f"{sign}{number}{_NBSP}{m.currency}"

    def date(self, value: date | datetime | str | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return value
        return f"{value.day}{_NBSP}{self._months[value.month - 1]}{_NBSP}{value.year}"

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return f"{self.date(value)} {value:%H:%M}{_NBSP}UTC"


def load_table(lang: str) -> dict[str, str]:
    """`<lang>.json` plus one `<feature>.<lang>.json` per feature, so features do not share one file.

    A key defined in two files is an error rather than a silent override."""
    table: dict[str, str] = {}
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
