"""Helpers of the event store tests: deterministic bus messages as ``(subject, data)`` records."""

from __future__ import annotations

from basis.bus import subjects
from basis.bus.codec import encode
from basis.bus.ids import SequentialIds
from basis.bus.messages import Fill, InstructionFilled, Message, OraclePrice

T0 = 1_700_000_000_000_000_000


def price(ids: SequentialIds, i: int, *, venue: str = "aave_v3", asset: str = "WETH") -> OraclePrice:
    return OraclePrice(
        id=ids.next_id(), ts=T0 + i * 1_000_000_000, venue=venue, asset=asset, quote="USD", price=3000.0 + i
    )


def fill(ids: SequentialIds, i: int) -> InstructionFilled:
    return InstructionFilled(
        id=ids.next_id(),
        ts=T0 + i * 1_000_000_000,
        instruction_id=f"ins-{i}",
        venue="binance",
        changes=(Fill(instrument="binance:Perp:BTCUSDT", delta=0.001 * i, price=60_000.0 + i),),
    )


def record(message: Message) -> tuple[str, bytes]:
    return subjects.subject_of(message), encode(message)


def sample_run(run_id: str, n: int = 30) -> list[tuple[str, bytes]]:
    """``n`` messages of one run: oracle prices on two assets and fills, in a fixed order."""
    ids = SequentialIds(run_id, "feed")
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        if i % 3 == 2:
            out.append(record(fill(ids, i)))
        else:
            out.append(record(price(ids, i, asset="WETH" if i % 2 else "USDT")))
    return out
