"""servicekit.search without a database: the query checked against the contract, its words, the term queries
built from them (nothing of the user's syntax survives), and the snippet cut."""

from __future__ import annotations

import pytest

from portal.common.v1 import search_pb2
from servicekit.errors import InvalidArgument
from servicekit.search import Hit, Results, TextIndex, parse_query, snippet, term_query, words

KINDS = ("invoice", "estimate", "payment")


def parse(staff: bool = False, **fields: object):  # noqa: ANN201
    return parse_query(search_pb2.SearchQuery(**fields), kinds=KINDS, staff=staff)


def test_a_query_is_trimmed_its_kinds_default_to_all_and_its_limit_to_five():
    q = parse(query="  INV-0042   printer ", customer_id="cust-b")
    assert (q.text, q.words, q.kinds, q.limit, q.customer_id) == (
        "INV-0042 printer",
        ("inv", "0042", "printer"),
        KINDS,
        5,
        "",
    )
    assert q.exact == "inv-0042 printer"
    assert parse(query="a", kinds=["payment", "invoice", "payment"], limit_per_kind=20).kinds == ("payment", "invoice")
    # customer_id is the staff's filter only.
    assert parse(staff=True, query="a", customer_id=" cust-b ").customer_id == "cust-b"
    # LIKE wildcards in the number match are literal.
    assert parse(query="50%_off\\").prefix_pattern == "50\\%\\_off\\\\%"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": " \t\n "}, "query"),
        ({"query": "x" * 201}, "query"),
        ({"query": "a\x00b"}, "query"),
        ({"query": "a", "kinds": ["ticket"]}, "kinds"),
        ({"query": "a", "limit_per_kind": 21}, "limit_per_kind"),
        ({"query": "a", "limit_per_kind": -3}, "limit_per_kind"),
    ],
)
def test_out_of_contract_is_invalid_argument_naming_the_field(fields, field):
    with pytest.raises(InvalidArgument) as err:
        parse(**fields)
    assert err.value.field == field
    with pytest.raises(InvalidArgument) as err:
        parse(staff=True, query="a", customer_id="x" * 37)
    assert err.value.field == "customer_id"


def test_two_hundred_characters_are_accepted_and_words_are_capped():
    assert parse(query="é" * 200).words == ("é" * 200,)
    assert len(words(" ".join(f"w{i}" for i in range(40)))) == 16


@pytest.mark.parametrize(
    "typed",
    [
        "'",
        '"',
        "*",
        "OR",
        "NEAR(",
        "--",
        "\\",
        "col:x",
        "a) OR (b",
        '"x" NOT y*',
        "x' OR '1'='1; --",
        "^a + b & !c | d",
    ],
)
def test_no_search_syntax_survives_into_the_term_queries(typed):
    found = words(typed)
    assert all(w.isalnum() for w in found)
    for dialect in ("postgresql", "sqlite"):
        built = term_query(found, dialect)
        # Only our own operators and quotes, around letters and digits.
        assert set(built) - set("abcdefghijklmnopqrstuvwxyz0123456789") <= set(' &:*"'), (typed, built)
    assert term_query(("inv", "0042"), "postgresql") == "inv:* & 0042:*"
    assert term_query(("inv", "0042"), "sqlite") == '"inv"* "0042"*'


def test_a_snippet_is_plain_text_around_the_first_match_within_the_limit():
    assert snippet(["", "Printer repair", "Toner"], ("toner",)) == "Toner"
    assert snippet(["Printer repair"], ("nothing",)) == "Printer repair"
    assert snippet([], ("x",)) == ""
    long = " ".join(["filler"] * 60) + " the printer jammed " + " ".join(["after"] * 60)
    cut = snippet([long], ("printer",))
    assert len(cut) <= 200 and "printer jammed" in cut and cut.startswith("…") and cut.endswith("…")
    # A word matches at a word's start only ("art" is not found inside "cartridge").
    assert snippet(["Toner cartridge", "Art supplies"], ("art",)) == "Art supplies"
    assert "\n" not in snippet(["line one\nline two"], ("two",))


def test_results_keep_the_limit_and_name_the_kinds_with_more():
    hit = Hit(kind="invoice", id="1", title="INV-1", snippet="", customer_id="c", updated_at=None, rank=3.0)
    results = Results()
    results.add("invoice", [hit, hit, hit], 2)
    results.add("payment", [], 2)
    out = results.to_proto()
    assert len(out.hits) == 2 and list(out.truncated_kinds) == ["invoice"] and not out.hits[0].HasField("updated_at")


def test_index_names_are_plain_identifiers():
    with pytest.raises(ValueError, match="identifier"):
        TextIndex("invoices; DROP TABLE x", ("number",))
    assert "translate(coalesce(invoices.number, '')" in TextIndex("invoices", ("number",)).pg_vector("invoices")
