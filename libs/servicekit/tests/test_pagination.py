import base64

import pytest

from servicekit.errors import InvalidArgument
from servicekit.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor, page_size


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
