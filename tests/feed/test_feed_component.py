"""MarketDataFeed on the in-process bus: clock, ticks after each time, flows, counts, determinism."""

from __future__ import annotations

from pathlib import Path

import msgspec
from feedutil import ROOT

from basis.bus.bus import Bus
from basis.bus.clock import SimClock
from basis.bus.ids import SequentialIds
from basis.bus.messages import ClockTicked, Control, InvestorDeposit, InvestorWithdrawal, Message
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.feed import MarketDataFeed, discover, parse_utc, read_flows
from basis.components.feed.feed import ProgressHook

CATALOGUE = discover([ROOT])
MODE = CATALOGUE.select(
    [
        "bar:binance:BTCUSDT:spot",
        "bar:binance:BTCUSDT:perp",
        "funding:binance:BTCUSDT",
        "reserve:aave_v3:USDT",
        "gas:ethereum:gwei",
    ]
)
START, END = parse_utc("2024-03-01T00:00:00Z"), parse_utc("2024-03-03T00:00:00Z")


async def replay(
    flows_path: Path | None = None, progress: ProgressHook | None = None, progress_every: int = 1_000
) -> tuple[list[tuple[Message, int]], dict[str, int], MarketDataFeed]:
    transport = InProcessTransport()
    clock = SimClock()
    seen: list[tuple[Message, int]] = []

    async def record(message: Message) -> None:
        seen.append((message, clock.now_ns()))

    await Bus(transport, component="recorder").subscribe(">", record)
    flows = read_flows(flows_path, SequentialIds("run", "flows"), asset="USDT") if flows_path else []
    feed = MarketDataFeed(
        Bus(transport, component="market-data"),
        clock,
        SequentialIds("run", "market-data"),
        series=MODE,
        roots=[ROOT],
        start=START,
        end=END,
        flows=flows,
        progress=progress,
        progress_every=progress_every,
    )
    await feed.start()  # answers ping/stop like every component
    counts = await feed.run()
    await transport.close()
    return seen, counts, feed


async def test_one_tick_after_the_messages_of_each_time() -> None:
    seen, counts, feed = await replay()
    messages = [m for m, _ in seen]
    assert isinstance(messages[-1], ClockTicked) and messages[-1].final
    body = messages[:-1]
    times = sorted({m.ts for m in body if not isinstance(m, ClockTicked)})
    assert times[0] == START and times[-1] < END
    ticks = [m for m in body if isinstance(m, ClockTicked)]
    assert [t.ts for t in ticks] == times and not any(t.final for t in ticks)
    # every message of a time precedes its tick, and the clock was at that time when it was delivered
    current = None
    for message, now in seen[:-1]:
        assert now == message.ts
        if isinstance(message, ClockTicked):
            assert message.ts == current
            current = None
        else:
            assert current in (None, message.ts)
            current = message.ts
    assert counts["bar"] == 2 * 48 and counts["funding"] == 6 and counts["reserve"] == 2
    assert counts["gas"] == 48
    assert counts["clock"] == len(times) + 1 and counts["timestamps"] == len(times)
    assert feed.stats["bar:binance:BTCUSDT:perp"].messages == 48


async def test_flows_are_replayed_after_market_data_and_before_the_tick(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(
        "timestamp,amount\n2024-02-01T00:00:00Z,5\n2024-03-01T08:00:00Z,1000000\n"
        "2024-03-02T08:30:00Z,-400\n2024-03-05T00:00:00Z,7\n"
    )
    seen, counts, _ = await replay(path)
    messages = [m for m, _ in seen]
    at_8 = [type(m).__name__ for m in messages if m.ts == parse_utc("2024-03-01T08:00:00Z")]
    assert at_8[-3:] == ["FundingRate", "InvestorDeposit", "ClockTicked"]
    assert at_8.index("Bar") < at_8.index("FundingRate")
    odd = [type(m).__name__ for m in messages if m.ts == parse_utc("2024-03-02T08:30:00Z")]
    assert odd == ["InvestorWithdrawal", "ClockTicked"]  # a flow between bars gets its own tick
    assert counts["deposit"] == 1 and counts["withdrawal"] == 1 and counts["flows_outside_window"] == 2
    assert any(isinstance(m, InvestorDeposit) for m in messages)
    assert any(isinstance(m, InvestorWithdrawal) for m in messages)


async def test_replays_are_identical() -> None:
    one, _, _ = await replay()
    two, _, _ = await replay()
    assert [msgspec.json.encode(m) for m, _ in one] == [msgspec.json.encode(m) for m, _ in two]
    assert len({m.id for m, _ in one}) == len(one)


async def test_progress_hook() -> None:
    calls: list[int] = []
    _, counts, _ = await replay(progress=calls.append, progress_every=10)
    assert len(calls) == counts["timestamps"] // 10 + 1
    assert calls == sorted(calls) and calls[-1] == END  # the final tick is at the window's end


async def test_a_stop_request_ends_the_replay_after_the_current_time() -> None:
    transport = InProcessTransport()
    clock = SimClock()
    feed = MarketDataFeed(
        Bus(transport, component="market-data"),
        clock,
        SequentialIds("run", "market-data"),
        series=MODE,
        roots=[ROOT],
        start=START,
        end=END,
    )
    await feed.start()
    controller = Bus(transport, component="controller")
    stop_at = START + 3 * 3600 * 10**9

    async def on_tick(tick: ClockTicked) -> None:
        if tick.ts == stop_at:
            await controller.publish(Control(id="c1", ts=tick.ts, component="market-data", command="stop"))

    await controller.subscribe("sys.clock", on_tick, types=(ClockTicked,))
    ticks: list[ClockTicked] = []

    async def record(tick: ClockTicked) -> None:
        ticks.append(tick)

    await controller.subscribe("sys.clock", record, types=(ClockTicked,))
    counts = await feed.run()
    await transport.close()
    assert ticks[-1].final and ticks[-2].ts == stop_at
    assert counts["bar"] == 2 * 4  # bars closing at 00:00, 01:00, 02:00 and 03:00
