"""The in-process shortcuts: message objects skip handlers of other types, plain-function handlers, one
call per delivery. Order, dead letters and counters are those of the ordinary path."""

from __future__ import annotations

from basis.bus.bus import Bus
from basis.bus.messages import ClockTicked, Control, GasPrice, Message
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport


def tick(ts: int) -> ClockTicked:
    return ClockTicked(id=f"t{ts}", ts=ts)


async def test_handlers_of_other_types_are_skipped_and_order_is_kept() -> None:
    t = InProcessTransport()
    seen: list[str] = []

    async def clocks(m: Message) -> None:
        seen.append(f"clock:{m.id}")

    def controls(m: Message) -> None:  # a plain function
        seen.append(f"control:{m.id}")

    async def raw(e: Envelope) -> None:
        seen.append(f"raw:{e.subject}")

    a, b = Bus(t, component="a"), Bus(t, component="b")
    await a.subscribe(">", clocks, types=(ClockTicked,))
    await t.subscribe(">", raw)
    await b.subscribe(">", controls, types=(Control,))
    await a.subscribe("sys.clock", clocks)  # no types: every message
    await a.publish(tick(1))
    await b.publish(Control(id="c1", ts=1, component="x", command="ping"))
    assert seen == [
        "clock:t1",
        "raw:sys.clock",
        "clock:t1",
        "raw:sys.control.x",
        "control:c1",
    ]
    assert (a.processed, b.processed) == (2, 1)


async def test_a_failing_handler_is_dead_lettered_on_the_shortcut_too() -> None:
    t = InProcessTransport()
    dead: list[tuple[str, str]] = []

    def broken(m: Message) -> None:
        raise ValueError("boom")

    async def on_dlq(e: Envelope) -> None:
        dead.append((e.subject, e.headers["Basis-Error"]))

    bus = Bus(t, component="c")
    await bus.subscribe("sys.clock", broken, types=(ClockTicked,))
    await t.subscribe("dlq.>", on_dlq)
    await bus.publish(tick(2))
    assert dead == [("dlq.sys.clock", "handler error: ValueError: boom")]
    assert (bus.processed, bus.dead_lettered, t.handler_errors) == (0, 1, 0)


async def test_raw_bytes_still_reach_typed_handlers_and_are_decoded() -> None:
    t = InProcessTransport()
    got: list[Message] = []

    async def on_gas(m: Message) -> None:
        got.append(m)

    bus = Bus(t, component="g")
    await bus.subscribe("md.>", on_gas, types=(GasPrice,))
    message = GasPrice(
        id="g1", ts=3, chain="ethereum", base_fee_gwei=1.0, priority_fee_gwei=0.5, price_gwei=1.5
    )
    from basis.bus.codec import encode

    await t.publish("md.gas.ethereum.gwei", encode(message))  # no message object: the handler decodes
    assert got == [message]


async def test_plain_function_subscribers_of_the_transport() -> None:
    t = InProcessTransport()
    seen: list[str] = []

    def record(e: Envelope) -> None:
        seen.append(e.subject)

    await t.subscribe("md.>", record)  # in-process: plain functions too
    await t.publish("md.bar.x.Y", b"{}")
    await Bus(t, component="p").publish(tick(4))  # not md: not recorded
    assert seen == ["md.bar.x.Y"]


async def test_a_plain_callable_that_returns_a_coroutine_is_awaited() -> None:
    t = InProcessTransport()
    seen: list[str] = []

    async def handle(m: Message) -> None:
        seen.append(m.id)

    bus = Bus(t, component="l")
    await bus.subscribe("sys.clock", lambda m: handle(m), types=(ClockTicked,))
    await bus.publish(tick(5))
    assert seen == ["t5"] and bus.processed == 1
