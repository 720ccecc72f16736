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
        elif field.name == "state":
            fields[field.name] = "filled"
        elif field.name == "action":
            fields[field.name] = m.Supply(asset="USDT", amount=1.5) if cls is m.Instruction else "hold"
        elif field.name == "command":
            fields[field.name] = "ping"
        elif field.name == "protocol":
            fields[field.name] = "cex_margin"
        elif field.name == "answer":
            fields[field.name] = "DEFER"
        elif field.name in ("steps", "changes", "sources", "reasons"):
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
    trade = m.Instruction(
        id="1", ts=1, venue="bybit", action=m.PerpTrade(symbol="BTCUSDT", side="sell", quantity=1.0)
    )
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


# --- the execution contract: typed actions inside instructions -----------------------------------------

STEP = m.Step(venue="aave_v3", action=m.Supply(asset="wstETH", amount=2.0))
ACTIONS: tuple[m.Action, ...] = (
    m.SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.5),
    m.SpotTrade(symbol="BTCUSDT", side="sell", quantity=0.5, order_type="limit", limit_price=65_000.0),
    m.PerpTrade(
        symbol="ETHUSDT",
        side="sell",
        quantity=3.0,
        order_type="limit",
        limit_price=3_000.0,
        time_in_force="post_only",
        reduce_only=False,
        take_profit=2_700.0,
        stop_loss=3_300.0,
    ),
    m.Supply(asset="USDT", amount=1_000.0),
    m.Withdraw(asset="USDT", amount=1_000.0),
    m.Borrow(asset="WETH", amount=1.0),
    m.Repay(asset="WETH", amount=1.0),
    m.SetEMode(category=1),
    m.Stake(token="wstETH", amount=1.0),
    m.Unstake(token="weETH", amount=1.0),
    m.Swap(sell_asset="EIGEN", buy_asset="USDT", amount=10.0, max_slippage_bps=30.0),
    m.Transfer(source="binance", destination="wallet", asset="USDT", amount=500.0),
    m.AtomicBundle(
        steps=(
            m.Step(venue="lido", action=m.Stake(token="wstETH", amount=3.0)),
            STEP,
            m.Step(venue="aave_v3", action=m.Borrow(asset="WETH", amount=2.0)),
        ),
        flash_loan=m.FlashLoan(venue="morpho", asset="WETH", amount=2.0),
    ),
)


def test_every_action_type_is_sampled() -> None:
    assert {type(a) for a in ACTIONS} == set(m.ACTION_TYPES)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.kind)
def test_every_action_travels_in_an_instruction(action: m.Action) -> None:
    instruction = m.Instruction(id="s.1", ts=1, venue="aave_v3", action=action, deadline_ns=5)
    data = codec.encode(instruction)
    assert codec.decode(data) == instruction
    assert json.loads(data)["action"]["kind"] == action.kind == m.KINDS[type(action)]
    assert subjects.subject_of(instruction) == f"cmd.aave_v3.{action.kind}"
    assert instruction.key == "s.1"


def test_defaults_are_not_written() -> None:
    """A market order carries no null limit price: the log keeps what was asked, nothing else."""
    trade = m.Instruction(id="s.1", ts=1, venue="bybit", action=ACTIONS[0])
    assert json.loads(codec.encode(trade))["action"] == {
        "kind": "spot_trade",
        "symbol": "BTCUSDT",
        "side": "buy",
        "quantity": 0.5,
    }


def test_bundle_steps_have_no_ids_of_their_own() -> None:
    assert [f.name for f in msgspec.structs.fields(m.Step)] == ["venue", "action"]
    assert ACTIONS[-1].describe().startswith("bundle(steps=(Step(venue='lido'")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            '{"kind": "perp_trade", "symbol": "X", "side": "buy", "quantity": 1, "order_type": "limit"}',
            "a limit order needs limit_price",
        ),
        (
            '{"kind": "spot_trade", "symbol": "X", "side": "buy", "quantity": 1, "limit_price": 5}',
            "limit_price is only for limit orders",
        ),
        (
            '{"kind": "perp_trade", "symbol": "X", "side": "buy", "quantity": 1, "take_profit": 90, "stop_loss": 110}',
            "a buy order's take_profit must be above its stop_loss, got take_profit=90, stop_loss=110",
        ),
        (
            '{"kind": "perp_trade", "symbol": "X", "side": "sell", "quantity": 1, "stop_loss": -1}',
            "stop_loss must be finite and > 0, got -1.0",
        ),
        ('{"kind": "bundle", "steps": []}', "a bundle needs at least one step"),
        (
            '{"kind": "bundle", "steps": [{"venue": "binance", "action": {"kind": "spot_trade", "symbol": "X", '
            '"side": "buy", "quantity": 1}}]}',
            "Invalid value 'spot_trade' - at `$.action.steps[0].action.kind`",
        ),
        ('{"kind": "set_emode", "category": 300}', "category must be in [0, 255], got 300"),
    ],
)
def test_an_impossible_action_fails_at_decoding(payload: str, error: str) -> None:
    data = f'{{"type": "Instruction", "id": "a", "ts": 1, "venue": "x", "action": {payload}}}'.encode()
    with pytest.raises(DecodeError) as info:
        codec.decode(data)
    assert error in str(info.value)
