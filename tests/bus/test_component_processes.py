"""Every component can run as its own process: the clock ticks on wall time over the real server, each
mode component and venue gateway is resolvable from the mode alone, and a gateway process killed with
SIGKILL and restarted answers a redelivered instruction from its journal instead of executing it again."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest

from basis.bus.bus import Bus
from basis.bus.clock import LiveClock, SimClock
from basis.bus.embedded import EmbeddedNats
from basis.bus.ids import RandomIds, SequentialIds
from basis.bus.messages import (
    ClockTicked,
    FlowBooked,
    GasPrice,
    Instruction,
    InstructionFilled,
    InstructionStatus,
    InvestorDeposit,
    Message,
    Transfer,
)
from basis.bus.transport.inprocess import InProcessTransport
from basis.bus.transport.nats import NatsTransport
from basis.components.clock import ClockTicker
from basis.components.router import ExecutionRouter
from basis.components.strategy import PureLendingStrategy
from basis.process import UsageError, gateway_names, resolve_factory, run_component
from basis.venues.simulated import SimulatedAave, SimulatedCex, SimulatedWallet
from basis.venues.simulated.chain import SimulatedChain


def build(name: str, mode: str | None = None) -> object:
    factory = resolve_factory(name, mode)
    bus = Bus(InProcessTransport(), component=name)
    return factory(bus, SimClock(0), SequentialIds("", name))


def test_every_component_of_a_mode_is_resolvable() -> None:
    assert gateway_names("btc_basis") == ["sim-binance", "sim-bybit", "sim-chain", "sim-okx"]
    assert gateway_names("pure_lending_usdt") == ["sim-chain"]
    assert gateway_names("eth_leveraged") == ["sim-chain"]
    assert isinstance(build("sim-okx", "btc_basis"), SimulatedCex)
    chain = build("sim-chain", "pure_lending_usdt")
    assert isinstance(chain, SimulatedChain) and chain.venues == ["aave_v3", "wallet"]
    assert isinstance(chain.gateway("aave_v3"), SimulatedAave)
    assert isinstance(chain.gateway("wallet"), SimulatedWallet)
    leveraged = build("sim-chain", "eth_leveraged")
    assert isinstance(leveraged, SimulatedChain)
    assert leveraged.venues == ["aave_v3", "etherfi", "uniswap", "wallet", "instadapp"]
    assert isinstance(build("strategy", "pure_lending_usdt"), PureLendingStrategy)
    assert isinstance(build("router", "btc_basis"), ExecutionRouter)
    assert isinstance(build("clock"), ClockTicker)


def test_a_gateway_the_mode_does_not_have_is_a_usage_error() -> None:
    with pytest.raises(
        UsageError, match=r"sim-lido: mode btc_basis has no such venue; its gateways: sim-binance"
    ):
        resolve_factory("sim-lido", "btc_basis")
    with pytest.raises(UsageError, match="strategy needs --mode MODE"):
        resolve_factory("strategy")


async def test_the_clock_ticks_on_whole_periods_of_wall_time(nats_server: EmbeddedNats) -> None:
    transport = await NatsTransport.connect(nats_server.url)
    ticks: asyncio.Queue[ClockTicked] = asyncio.Queue()
    await Bus(transport, component="tester").subscribe("sys.clock", ticks.put, types=(ClockTicked,))
    stop = asyncio.Event()
    runner = asyncio.ensure_future(
        run_component(
            "clock", nats_server.url, "clock-test", stop=stop, handle_signals=False, clock_period_s=0.05
        )
    )
    got = [await asyncio.wait_for(ticks.get(), 5.0) for _ in range(4)]
    stop.set()
    assert await asyncio.wait_for(runner, 5.0) == 0
    period = 50_000_000
    assert all(t.ts % period == 0 for t in got)  # on whole periods
    steps = [b.ts - a.ts for a, b in itertools.pairwise(got)]
    assert all(step > 0 and step % period == 0 for step in steps)  # never twice; a busy machine may skip
    assert abs(time.time_ns() - got[-1].ts) < 2_000_000_000
    await transport.close()


class SteppedClock:
    """Wall time that jumps: ahead (the process was busy), then back (the system clock was corrected)."""

    def __init__(self, readings: list[int]) -> None:
        self.readings = readings

    def now_ns(self) -> int:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


async def test_the_clock_skips_ticks_it_missed_and_never_ticks_twice() -> None:
    ticker = ClockTicker(
        Bus(InProcessTransport(), component="clock"), LiveClock(), RandomIds(), period_s=60.0
    )
    assert ticker.next_tick_ns(120 * 10**9) == 180 * 10**9
    assert ticker.next_tick_ns(179 * 10**9 + 1) == 180 * 10**9

    s = 10**9
    transport = InProcessTransport()
    ticks: list[int] = []
    # wall time read before each tick: just before 1 s; just before 6 s (the process was busy: 2..5 are
    # skipped); just before 6 s again (the system clock stepped back after the 6 s tick)
    readings = [999_500_000, 5_999_500_000, 5_999_500_000]
    stepped = ClockTicker(
        Bus(transport, component="clock"), SteppedClock(readings), RandomIds(), period_s=1.0
    )

    async def keep(message: ClockTicked) -> None:
        ticks.append(message.ts)
        if len(ticks) == 3:
            stepped.stopped.set()

    await Bus(transport, component="tester").subscribe("sys.clock", keep, types=(ClockTicked,))
    await stepped.start()
    await asyncio.wait_for(stepped.stopped.wait(), 30.0)
    await stepped.close()
    assert ticks == [1 * s, 6 * s, 7 * s]  # 2..5 skipped, and 7 s rather than 6 s again after the step back
    with pytest.raises(ValueError, match="period_s must be > 0"):
        ClockTicker(Bus(InProcessTransport(), component="clock"), LiveClock(), RandomIds(), period_s=0.0)


# --- a gateway process, killed and restarted ----------------------------------------------------------


@pytest.fixture
async def tester(nats_server: EmbeddedNats) -> AsyncIterator[tuple[NatsTransport, list[Message]]]:
    transport = await NatsTransport.connect(nats_server.url, name="tester")
    await transport.ensure_streams()
    seen: list[Message] = []

    async def keep(message: Message) -> None:
        seen.append(message)

    await Bus(transport, component="tester").subscribe("evt.>", keep)
    yield transport, seen
    await transport.close()


class WalletProcesses:
    """``basis component run sim-chain`` processes (the wallet and AAVE of pure_lending_usdt), one after
    the other, each with its log."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"wallet-{len(self.processes)}.log").open("wb")
        self._files.append(log)
        cmd = [sys.executable, "-m", "basis.components", "sim-chain", "--mode", "pure_lending_usdt"]
        process = subprocess.Popen([*cmd, "--nats", self.url], stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for log in self._files:
            log.close()


@pytest.fixture
def wallets(nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[WalletProcesses]:
    processes = WalletProcesses(nats_server.url, tmp_path)
    yield processes
    processes.close()


async def until(condition: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_gateway_killed_and_restarted_never_executes_an_instruction_twice(
    nats_server: EmbeddedNats,
    tmp_path: Path,
    tester: tuple[NatsTransport, list[Message]],
    wallets: WalletProcesses,
) -> None:
    transport, seen = tester
    bus = Bus(transport, component="tester", run_id="kill-test")
    first = wallets.start()
    gas = GasPrice(
        id=uuid.uuid4().hex,
        ts=time.time_ns(),
        chain="ethereum",
        base_fee_gwei=10.0,
        priority_fee_gwei=0.0,
        price_gwei=10.0,
    )

    deposit_id = uuid.uuid4().hex

    def deposited() -> bool:
        return any(isinstance(m, FlowBooked) and m.causation_id == deposit_id for m in seen)

    deadline = time.monotonic() + 20.0
    while not deposited():  # the process is up once it books a deposit
        assert time.monotonic() < deadline, "the wallet process did not come up"
        await bus.publish(gas)
        await bus.publish(InvestorDeposit(id=deposit_id, ts=time.time_ns(), amount=1_000.0, asset="USDT"))
        await transport.flush()
        await asyncio.sleep(0.2)

    payout = Instruction(
        id=uuid.uuid4().hex,
        ts=time.time_ns(),
        venue="wallet",
        action=Transfer(source="wallet", destination="investor", asset="USDT", amount=100.0),
    )
    await bus.publish(payout)
    await transport.flush()

    def answered(kind: type[Message]) -> list[Message]:
        return [m for m in seen if isinstance(m, kind) and m.causation_id == payout.id]

    await until(lambda: answered(InstructionFilled), "the payout's fill")
    [fill] = answered(InstructionFilled)
    [paid] = answered(FlowBooked)

    first.send_signal(signal.SIGKILL)
    assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
    wallets.start()

    deadline = time.monotonic() + 20.0
    while not answered(InstructionStatus):  # redelivered until the restarted process answers
        assert time.monotonic() < deadline, "the restarted wallet never answered"
        await bus.publish(payout)
        await transport.flush()
        await asyncio.sleep(0.2)
    status = answered(InstructionStatus)[0]
    assert isinstance(status, InstructionStatus)
    assert status.state == "filled"
    assert fill in status.outcomes and paid in status.outcomes
    assert answered(InstructionFilled) == [fill] and answered(FlowBooked) == [paid]  # executed once
    deposits = [m for m in seen if isinstance(m, FlowBooked) and m.causation_id == deposit_id]
    assert len(deposits) == 1  # the deposit, sent until the first process was up, booked once
