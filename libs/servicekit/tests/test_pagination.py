import base64
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from servicekit.errors import InvalidArgument
from servicekit.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor, keyset, keyset_cursor, page_size


def test_cursor_round_trip():
    c = encode_cursor("2026-11-23T10:00:00+00:00", "abc")
    assert decode_cursor(c, 2) == ["2026-11-23T10:00:00+00:00", "abc"]
    assert decode_cursor("", 2) is None


NESTED = base64.urlsafe_b64encode(b"[" * 100_000).decode()


@pytest.mark.parametrize("bad", ["%%%", "bm90IGpzb24", encode_cursor("only-one"), "W10", "e30", NESTED])
def test_malformed_cursor_is_a_clear_invalid_argument(bad):
    with pytest.raises(InvalidArgument) as err:
        decode_cursor(bad, 2)
    assert err.value.field == "cursor" and "malformed" in err.value.detail


def test_page_size_bounds():
    assert page_size(0) == 25
    assert page_size(10_000) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        page_size(-1)


AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "mode"),
    [(AT, ""), (AT, "newest"), (AT.astimezone(timezone(timedelta(hours=2))), ""), (date(2026, 1, 2), ""), ("b", "")],
)
def test_keyset_round_trip(key, mode):
    cursor = keyset_cursor(key, "row-1", mode)
    assert keyset(cursor, mode, key=type(key)) == (key, "row-1")
    assert keyset("", mode, key=type(key)) is None


def test_keyset_cursor_is_the_same_cursor_as_before():
    # Cursors handed out before keyset_cursor existed stay valid across a deploy.
    assert keyset_cursor(AT, "r") == encode_cursor(AT.isoformat(), "r")
    assert keyset_cursor(AT, "r", "oldest") == encode_cursor("oldest", AT.isoformat(), "r")


@pytest.mark.parametrize(
    ("cursor", "key"),
    [
        ("%%%not-base64", datetime),
        (encode_cursor(AT.isoformat()), datetime),
        (encode_cursor("yesterday", "r"), datetime),
        (encode_cursor("2026-05-01T12:00:00", "r"), datetime),  # no offset: not one of ours
        (encode_cursor(AT.isoformat(), 5), datetime),
        (encode_cursor(AT.isoformat(), "x" * 100), datetime),
        (encode_cursor(None, None), datetime),
        (encode_cursor("not-a-date", "r"), date),
        (encode_cursor("2026-01-01", 7), date),
        (encode_cursor(3, "r"), str),
        (encode_cursor("laptop", None), str),
    ],
)
def test_a_malformed_keyset_cursor_is_invalid_argument(cursor, key):
    with pytest.raises(InvalidArgument) as err:
        keyset(cursor, key=key)
    assert (
        err.value.field == "cursor" and err.value.detail == "the cursor is malformed; start again from the first page"
    )


def test_a_cursor_of_another_order_is_refused():
    with pytest.raises(InvalidArgument) as err:
        keyset(keyset_cursor(AT, "r", "oldest"), "newest")
    assert err.value.field == "cursor" and "another sort order" in err.value.detail
    with pytest.raises(InvalidArgument):  # a cursor without a mode is not one of a list with modes
        keyset(keyset_cursor(AT, "r"), "newest")
