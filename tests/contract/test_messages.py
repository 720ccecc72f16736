"""The message contract: every type round-trips, decoding errors name the problem, subjects are built in one place."""

from __future__ import annotations

import json
import re

import msgspec
import pytest

from basis.bus import codec, instruments, subjects
from basis.bus import messages as m
from basis.bus.errors import DecodeError, SubjectError


def _sample(cls: type[m.Message]) -> m.Message:
    """A minimal valid instance of ``cls`` built from its JSON Schema defaults."""
    values = {
        str: "x",
        int: 1,
        float: 1.5,
        bool: True,
    }
    fields = {}
    for field in msgspec.structs.fields(cls):
        if field.default is not msgspec.NODEFAULT or field.default_factory is not msgspec.NODEFAULT:
            continue
        tp = field.type
        if tp in values:
            fields[field.name] = values[tp]
        elif field.name == "market":
            fields[field.name] = "spot"
        elif field.name == "side":
            fields[field.name] = "buy"
        elif field.name == "kind":
            fields[field.name] = "funding" if cls is m.Settled else "deposit"
        elif field.name == "level":
            fields[field.name] = "ok"
        elif field.name == "action":
            fields[field.name] = "hold"
        elif field.name == "command":
            fields[field.name] = "ping"
        elif field.name in ("steps", "changes"):
            fields[field.name] = ()
        elif field.name in ("health_factor", "ltv"):
            fields[field.name] = None
        else:
            fields[field.name] = {}
    fields.update(id="id-1", ts=1_700_000_000_000_000_000)
    return cls(**fields)


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda c: c.__name__)
def test_every_message_round_trips_and_has_a_subject(cls: type[m.Message]) -> None:
    message = _sample(cls)
    data = codec.encode(message)
    assert json.loads(data)["type"] == cls.__name__
    assert codec.decode(data) == message
    subject = subjects.subject_of(message)
    assert subject.split(".")[0] in ("md", "cmd", "evt", "sys")


def test_messages_are_frozen() -> None:
    message = _sample(m.FundingRate)
    with pytest.raises(AttributeError):
        message.rate = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not json", "JSON is malformed: invalid character (byte 4)"),
        (b'{"type": "Nope", "id": "a", "ts": 1}', "Invalid value 'Nope' - at `$.type`"),
        (b'{"id": "a", "ts": 1}', "Object missing required field `type`"),
        (
            b'{"type": "FundingRate", "id": "a", "ts": 1, "venue": "binance", "symbol": "BTCUSDT", "rate": "high"}',
            "Expected `float`, got `str` - at `$.rate`",
        ),
        (
            b'{"type": "FundingRate", "id": "a", "ts": 1, "venue": "b", "symbol": "s", "rate": 0.1, "extra": 1}',
            "Object contains unknown field `extra`",
        ),
    ],
)
def test_decode_errors_name_the_problem(payload: bytes, error: str) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode(payload)
    assert str(info.value) == error


def test_subjects_follow_the_hierarchy() -> None:
    bar = m.Bar(
        id="1",
        ts=1,
        venue="binance",
        symbol="BTCUSDT",
        market="perp",
        open_ts=0,
        interval_s=3600,
        open=1,
        high=1,
        low=1,
        close=1,
        volume=0,
    )
    assert subjects.subject_of(bar) == "md.bar.binance.BTCUSDT-PERP"
    trade = m.PerpTrade(id="1", ts=1, venue="bybit", symbol="BTCUSDT", side="sell", quantity=1.0)
    assert subjects.subject_of(trade) == "cmd.bybit.perp_trade"
    settled = m.Settled(
        id="1", ts=1, venue="okx", instrument="okx:BaseToken:USDT", kind="funding", amount=1, asset="USDT"
    )
    assert subjects.subject_of(settled) == "evt.okx.funding"
    assert subjects.dlq("evt.okx.funding") == "dlq.evt.okx.funding"
    assert subjects.stream_of("md.bar.binance.BTCUSDT").name == "BASIS_MD"  # type: ignore[union-attr]
    assert subjects.stream_of("sys.clock") is None


def test_subject_tokens_are_checked() -> None:
    with pytest.raises(SubjectError, match=re.escape("invalid subject token 'BTC.USDT'")):
        subjects.md("bar", "binance", "BTC.USDT")
    with pytest.raises(SubjectError, match="'>' must be the last token"):
        subjects.validate_pattern("md.>.x")


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("md.*.binance.*", "md.bar.binance.BTCUSDT", True),
        ("md.>", "md.bar.binance.BTCUSDT", True),
        ("md.>", "md", False),
        ("md.*", "md.bar.binance", False),
        ("evt.*.filled", "evt.okx.filled", True),
        ("evt.*.filled", "evt.okx.rejected", False),
    ],
)
def test_wildcards(pattern: str, subject: str, expected: bool) -> None:
    assert subjects.matches(pattern, subject) is expected


def test_instrument_keys() -> None:
    assert instruments.perp("binance", "BTCUSDT") == "binance:Perp:BTCUSDT"
    assert instruments.a_token("USDT") == "aave_v3:aToken:aUSDT"
    assert instruments.token("wallet", "USDT") == "wallet:BaseToken:USDT"
    assert instruments.parse("etherfi:BaseToken:weETH").symbol == "weETH"
    with pytest.raises(ValueError, match="position type must be one of"):
        instruments.parse("binance:Future:BTC")


def test_json_schema_covers_every_type() -> None:
    schema = codec.json_schemas()
    assert {t.__name__ for t in m.MESSAGE_TYPES} <= set(schema["$defs"])
