from datetime import UTC, datetime, timedelta, timezone

from servicekit.protos import timestamp


def test_timestamp_is_the_same_instant_in_utc():
    at = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    assert timestamp(at).ToDatetime(tzinfo=UTC) == at
    paris = at.astimezone(timezone(timedelta(hours=1)))
    assert timestamp(paris) == timestamp(at)


def test_a_naive_datetime_is_taken_as_utc():
    assert timestamp(datetime(2026, 11, 23, 10, 0)) == timestamp(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
