"""Numbers, money, dates, times and plurals in the portal's languages (English, French), through Babel, and the
operator's time zone. The gateway's pages and the services' emails and PDFs format through here, so a French user
reads "1 234,56 €" and "12 mars 2026 15:05 CET" the same way everywhere.

The time zone is a deployment setting shared by the gateway and every service: `PORTAL_TIMEZONE`, an IANA name
(e.g. Europe/Paris), default UTC, checked with `zoneinfo` when a process starts (`operator_zone`)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date as _format_date
from babel.numbers import format_currency, format_decimal, get_currency_precision

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
TIMEZONE_ENV = "PORTAL_TIMEZONE"
_NBSP = "\u00a0"
# Day, abbreviated month, year: "12 Mar 2026", "12 mars 2026" (non-breaking, so a date never wraps).
_DATE_PATTERN = f"d{_NBSP}MMM{_NBSP}y"


def language(value: str | None) -> str:
    """`value` when the portal speaks it (a region is dropped: fr-CA → fr), else English."""
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(language(lang))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError with a readable message when there is no such zone."""
    try:
        if not name or name != name.strip() or ".." in name or name.startswith("/"):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Paris)") from None


@cache
def operator_zone() -> ZoneInfo:
    """The operator's time zone from PORTAL_TIMEZONE (default UTC); SystemExit at start when it is not a zone."""
    name = os.environ.get(TIMEZONE_ENV, "").strip() or "UTC"
    try:
        return zone(name)
    except ValueError as exc:
        raise SystemExit(f"invalid configuration: {TIMEZONE_ENV}: {exc}") from None


# Babel spends tens of microseconds on each number or date (it parses its pattern every time), and a page shows
# hundreds; the same amounts and dates come back on every view, so the answers are memoised (pure functions of their
# arguments; bounded).
_MEMO = 8192


@lru_cache(maxsize=_MEMO)
def money(amount_minor: int, currency: str, lang: str) -> str:
    """An amount in minor units in `currency` as `lang` writes it: "$1,234.56", "1 234,56 €"."""
    currency = (currency or "").upper()
    try:
        digits = get_currency_precision(currency)
    except Exception:  # noqa: BLE001 - an unknown code is shown with two digits
        digits = 2
    value = Decimal(amount_minor).scaleb(-digits)
    return format_currency(value, currency, locale=_locale(lang), currency_digits=True)


def number(value: int | float | Decimal, lang: str) -> str:
    """A plain number as `lang` writes it: "1,234.5", "1 234,5"."""
    return format_decimal(value, locale=_locale(lang))


def day(value: date | datetime, lang: str) -> str:
    """A date as `lang` writes it: "12 Mar 2026", "12 mars 2026"."""
    if isinstance(value, datetime):
        value = local(value).date()
    return _day(value, lang)


@lru_cache(maxsize=_MEMO)
def _day(value: date, lang: str) -> str:
    return _format_date(value, _DATE_PATTERN, locale=_locale(lang))


def local(value: datetime) -> datetime:
    """`value` (UTC when naive) in the operator's time zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(operator_zone())


def moment(value: datetime, lang: str) -> str:
    """A date and time in the operator's time zone, with the zone's abbreviation: "12 mars 2026 15:05 CET"."""
    return _moment(value, lang, operator_zone())


@lru_cache(maxsize=_MEMO)
def _moment(value: datetime, lang: str, tz: ZoneInfo) -> str:
    # The zone is part of the key: tests (and nothing else) change PORTAL_TIMEZONE within one process.
    at = (value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(tz)
    return f"{_day(at.date(), lang)} {at:%H:%M}{_NBSP}{at.tzname()}"


def plural_form(count: int, lang: str) -> str:
    """The CLDR plural category of `count` in `lang` ("one", "other", ...): French says "1 ticket", "0 ticket"."""
    return _locale(lang).plural_form(abs(count))


def pick_plural(forms: dict[str, str], count: int, lang: str) -> str:
    """The form of a plural entry ({"one": ..., "other": ...}) for `count`; "other" when the category is missing."""
    return forms.get(plural_form(count, lang)) or forms["other"]


def csv_delimiter(lang: str) -> str:
    """French spreadsheets expect `;` (the comma is their decimal separator); English ones `,`."""
    return ";" if language(lang) == "fr" else ","
