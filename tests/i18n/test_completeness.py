"""SPEC H5: no untranslated word. Every key a gateway template or gateway code uses (T["..."], T['...'],
t("..."), t.plural("..."), t.label("group", ...) prefixes, T["prefix." ~ value] prefixes) exists in English and in
French; both tables have the same keys; each pair has the same {placeholders} and the same plural forms; and no
French text is the English one unless it is a word French writes the same way (WHITELIST). The same checks run over
the services' own words: identity's emails (mail/translations, the configurable email templates' defaults) and
billing's PDFs (billing.pdf). How to add a string: docs/i18n.md."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from billing import pdf
from gateway.web.i18n import LANGUAGES, load_table
from identity.email_templates import service as email_templates
from identity.mail import words
from tickets.tickets import pdf as ticket_pdf

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway" / "src" / "gateway"

# French words spelled as in English, and texts with nothing to translate (codes, names, arrows, numbers).
WHITELIST = {
    "Action", "Actions", "Agent", "Agents", "Code", "Console", "Contact", "Contacts", "Date", "Description",
    "Documents", "Fax", "Import", "Menu", "Message", "Mobile", "Notes", "Notifications", "Pages", "Position",
    "Public", "Python", "section", "widget",
    "Script", "Scripts", "Service Portal", "Sessions", "Shell", "Site", "Sites", "SMS", "Support", "Ticket",
    "Tickets", "Total", "Type", "Variables", "Version", "← Tickets", "{n} min", "{to} / {frm}",
}  # fmt: skip

# A key in a template or in code: T["key"] / T['key'] / t("key" / t.plural("key" / .table.get("key".
_USED = re.compile(r"""(?:\bT\[\s*|\bt(?:\.plural)?\(\s*)(['"])([A-Za-z0-9_.\-]+)\1(\s*[~+])?""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _forms(entry: object) -> dict[str, str]:
    return entry if isinstance(entry, dict) else {"other": entry}  # type: ignore[return-value]


def check_tables(name: str, tables: dict[str, dict[str, object]]) -> list[str]:
    """Every problem between the English and French tables of `name`."""
    en, fr = tables["en"], tables["fr"]
    problems = [f"{name}: {k} has no French" for k in sorted(en.keys() - fr.keys())]
    problems += [f"{name}: {k} has no English" for k in sorted(fr.keys() - en.keys())]
    for key in sorted(en.keys() & fr.keys()):
        e, f = _forms(en[key]), _forms(fr[key])
        if "other" not in e or "other" not in f:
            problems.append(f"{name}: {key} has a plural entry without an 'other' form")
            continue
        for form, text in {**e, **f}.items():
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{name}: {key} ({form}) is empty")
        want = _placeholders(e["other"])
        for lang, forms in (("en", e), ("fr", f)):
            for form, text in forms.items():
                if isinstance(text, str) and _placeholders(text) != want:
                    problems.append(f"{name}: {key} ({lang}, {form}) has {_placeholders(text)}, English {want}")
        if e == f and e["other"] not in WHITELIST:
            problems.append(f"{name}: {key} is the same in French as in English: {e['other']!r}")
    return problems


def used_keys() -> dict[str, set[str]]:
    """key → the files using it; a key joined with a value (`T["prefix." ~ value]`, `+ value`) is kept as
    "prefix.~", a prefix at least one key must start with."""
    used: dict[str, set[str]] = {}
    for path in [*GATEWAY.rglob("*.html"), *GATEWAY.rglob("*.py")]:
        for match in _USED.finditer(path.read_text("utf-8")):
            key = match.group(2) + ("~" if match.group(3) else "")
            used.setdefault(key, set()).add(str(path.relative_to(ROOT)))
    return used


def test_every_key_the_gateway_uses_is_in_both_languages() -> None:
    tables = {lang: load_table(lang) for lang in LANGUAGES}
    used = used_keys()
    assert len(used) > 500  # the scan finds the templates' keys (it cannot silently find none)
    missing = []
    for key, files in sorted(used.items()):
        for lang, table in tables.items():
            found = any(k.startswith(key[:-1]) for k in table) if key.endswith("~") else key in table
            if not found:
                missing.append(f"{key} ({lang}) used in {sorted(files)[0]}")
    assert not missing, "\n".join(missing)


def test_the_gateway_tables_match() -> None:
    problems = check_tables("gateway", {lang: load_table(lang) for lang in LANGUAGES})
    assert not problems, "\n".join(problems)


def test_identitys_emails_match() -> None:
    problems = check_tables("identity mail", {lang: words.table(lang) for lang in LANGUAGES})
    by_lang: dict[str, dict[str, object]] = {lang: {} for lang in LANGUAGES}
    for (name, lang), (subject, body) in email_templates.DEFAULTS.items():
        by_lang[lang][f"{name}.subject"] = subject
        by_lang[lang][f"{name}.body"] = body
    # Their placeholders are Jinja's {{ name }}: compare those instead of str.format fields.
    jinja = re.compile(r"{{\s*(\w+)")
    for key in by_lang["en"]:
        if set(jinja.findall(by_lang["en"][key])) != set(jinja.findall(by_lang["fr"].get(key, ""))):
            problems.append(f"email template {key}: the placeholders differ between English and French")
        if by_lang["en"][key] == by_lang["fr"].get(key):
            problems.append(f"email template {key}: the same in French as in English")
    assert by_lang["en"].keys() == by_lang["fr"].keys()
    assert not problems, "\n".join(problems)


def test_the_pdfs_match() -> None:
    problems = check_tables("billing pdf", {lang: pdf.labels(lang) for lang in LANGUAGES})
    problems += check_tables("ticket pdf", ticket_pdf.LABELS)  # type: ignore[arg-type]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("tables", "problem"),
    [
        ({"en": {"a": "Hello"}, "fr": {}}, "a has no French"),
        ({"en": {}, "fr": {"a": "Bonjour"}}, "a has no English"),
        ({"en": {"a": "Hi {name}"}, "fr": {"a": "Salut {nom}"}}, "has {'nom'}"),
        ({"en": {"a": "Settings"}, "fr": {"a": "Settings"}}, "the same in French"),
        ({"en": {"a": {"one": "1 day", "other": "{n} days"}}, "fr": {"a": {"one": "1 jour"}}}, "without an 'other'"),
    ],
)
def test_the_check_finds_each_kind_of_gap(tables: dict, problem: str) -> None:
    assert any(problem in p for p in check_tables("t", tables)), check_tables("t", tables)
