"""UTC timestamps as integer nanoseconds since the Unix epoch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

NS = 1_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAYS: dict[str, int] = {}
_DAYS_LIMIT = 100_000
_TWO_DIGITS: dict[str, int] = {f"{i:02d}": i for i in range(60)}


def _epoch_day(text: str) -> int:
    """Days since 1970-01-01 of ``YYYY-MM-DD`` (memoised: a data file repeats each date many times)."""
    day = _DAYS.get(text)
    if day is None:
        day = date.fromisoformat(text).toordinal() - _EPOCH_ORDINAL
        if len(_DAYS) < _DAYS_LIMIT:
            _DAYS[text] = day
    return day


def parse_utc(text: str, *, naive_is_utc: bool = False) -> int:
    """``YYYY-MM-DDTHH:MM:SSZ`` (fast path) or any ISO-8601 time in UTC (``Z`` or ``+00:00``).

    A time without offset is read as UTC only with ``naive_is_utc``. Raises ``ValueError`` with a short
    reason for anything else (including non-UTC offsets).
    """
    if len(text) == 20 and text[10] == "T" and text[19] == "Z" and text[13] == ":" and text[16] == ":":
        hour, minute, second = text[11:13], text[14:16], text[17:19]
        h, m, s = _TWO_DIGITS.get(hour, 99), _TWO_DIGITS.get(minute, 99), _TWO_DIGITS.get(second, 99)
        if h < 24 and m < 60 and s < 60:  # the common case: ASCII two-digit fields in range
            try:
                day = _epoch_day(text[:10])
            except ValueError:
                raise ValueError(f"not a valid date: {text!r}") from None
            return (((day * 24 + h) * 60 + m) * 60 + s) * NS
        if hour.isdigit() and minute.isdigit() and second.isdigit():
            h, m, s = int(hour), int(minute), int(second)
            if h < 24 and m < 60 and s < 60:
                try:
                    day = _epoch_day(text[:10])
                except ValueError:
                    raise ValueError(f"not a valid date: {text!r}") from None
                return (((day * 24 + h) * 60 + m) * 60 + s) * NS
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"time {text!r} has no UTC offset (write it as YYYY-MM-DDTHH:MM:SSZ)")
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset() != timedelta(0):
        raise ValueError(f"time {text!r} is not UTC")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1_000


def iso(ts_ns: int) -> str:
    """``2024-01-01T00:00:00Z`` (with a fraction when ``ts_ns`` is not a whole second)."""
    seconds, rest = divmod(ts_ns, NS)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest:09d}Z" if rest else f"{text}Z"
