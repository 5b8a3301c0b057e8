"""Every page text exists in English and in French, and no feature file redefines another's key (the full check —
keys used by templates and code, placeholders, untranslated French — is tests/i18n/test_completeness.py). Plural
entries pick their form with Babel's rules for the language."""

from gateway.web.i18n import LANGUAGES, load_table, load_translators


def test_every_language_has_the_same_keys():
    tables = {lang: load_table(lang) for lang in LANGUAGES}
    english = set(tables["en"])
    for lang, table in tables.items():
        assert set(table) == english, (
            f"{lang}: missing {sorted(english - set(table))[:5]}, extra {sorted(set(table) - english)[:5]}"
        )
        for key, value in table.items():
            forms = value.values() if isinstance(value, dict) else [value]
            assert all(isinstance(v, str) and v for v in forms), f"{lang}: {key} has an empty text"


def test_plural_entries_follow_each_languages_rules():
    t = load_translators()
    en, fr = t["en"], t["fr"]
    assert [en.plural("language.plural.overdue", n) for n in (0, 1, 2)] == [
        "Overdue · 0 days",
        "Overdue · 1 day",
        "Overdue · 2 days",
    ]
    # French puts 0 and 1 in the singular.
    assert [fr.plural("language.plural.overdue", n) for n in (0, 1, 2)] == [
        "En retard · 0 jour",
        "En retard · 1 jour",
        "En retard · 2 jours",
    ]
    # {count} is written as the language writes numbers; t(key, count=n) is the same as t.plural(key, n).
    assert fr.plural("language.plural.days", 1500) == "1\u202f500 jours"
    assert en("language.plural.days", count=1500) == "1,500 days"
