"""Every page text exists in English and in French, and no feature file redefines another's key."""

from gateway.web.i18n import LANGUAGES, load_table


def test_every_language_has_the_same_keys():
    tables = {lang: load_table(lang) for lang in LANGUAGES}
    english = set(tables["en"])
    for lang, table in tables.items():
        assert set(table) == english, (
            f"{lang}: missing {sorted(english - set(table))[:5]}, extra {sorted(set(table) - english)[:5]}"
        )
        assert all(isinstance(v, str) and v for v in table.values()), f"{lang} has an empty text"
