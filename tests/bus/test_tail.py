"""``basis tail``: a real process on the session's real nats-server, fed through the typed bus."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime

import pytest

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.codec import decode, encode
from basis.bus.embedded import EmbeddedNats, free_port
from basis.bus.errors import DecodeError
from basis.bus.messages import ClockTicked, Fill, InstructionFilled, Settled
from basis.bus.transport.nats import NatsTransport
from basis.cli.bus_commands import render_json, render_line

BASIS = (sys.executable, "-c", "from basis.cli import main; main()")
CLOCK = re.compile(r"\d\d:\d\d:\d\d\.\d{3}")
TS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z
TRUNCATED = b'{"type": "InstructionFilled", "id": "half'


async def start_tail(*args: str) -> asyncio.subprocess.Process:
    """``basis -v tail ARGS``, returned once it has subscribed (it logs so at -v)."""
    process = await asyncio.create_subprocess_exec(
        *BASIS, "-v", "tail", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    seen: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        assert line, f"basis tail exited before subscribing: {''.join(seen)}"
        seen.append(line)
        if "subscribed to" in line:
            return process


def split(line: str) -> tuple[str, str]:
    """``(HH:MM:SS.mmm, the rest)`` of one printed line."""
    clock, rest = line.split("  ", 1)
    assert CLOCK.fullmatch(clock), line
    return clock, rest


async def test_tail_prints_matching_messages_and_undecodable_payloads_and_stops_at_count(
    nats_server: EmbeddedNats,
) -> None:
    """Published in this order: a message outside the pattern (must not print), an event, an undecodable
    payload inside the pattern (printed, counted, and the tail goes on), a second event (past --count 2:
    must not print, and the process exits by itself)."""
    process = await start_tail("evt.>", "--nats", nats_server.url, "--count", "2")
    transport = await NatsTransport.connect(nats_server.url, name="tail-test")
    try:
        await transport.ensure_streams()
        bus = Bus(transport, component="tester", run_id="tail-test")
        outside = ClockTicked(id=uuid.uuid4().hex, ts=TS)
        first = InstructionFilled(
            id=uuid.uuid4().hex,
            ts=TS,
            instruction_id="i-1",
            venue="binance",
            changes=(Fill(instrument="binance:BaseToken:BTC", delta=0.5, price=60_000.0),),
            fee=1.5,
            fee_asset="USDT",
        )
        second = Settled(
            id=uuid.uuid4().hex,
            ts=TS,
            venue="bybit",
            instrument="BTCUSDT",
            kind="funding",
            amount=1,
            asset="USDT",
        )
        await bus.publish(outside)
        await bus.publish(first)
        await transport.publish(subjects.subject_of(first), TRUNCATED)
        await bus.publish(second)
        await transport.flush()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await transport.close()

    assert process.returncode == 0, stderr.decode()
    with pytest.raises(DecodeError) as error:
        decode(TRUNCATED)
    lines = [split(line)[1] for line in stdout.decode().splitlines()]
    assert lines == [
        "evt.binance.filled  InstructionFilled  instruction_id=i-1 venue=binance "
        'changes=[{"instrument":"binance:BaseToken:BTC","delta":0.5,"price... '
        f"fee=1.5 fee_asset=USDT id={first.id} ts=2023-11-14T22:13:20.123Z",
        f"evt.binance.filled  undecodable: {error.value}",
    ]


async def test_tail_exits_cleanly_on_ctrl_c(nats_server: EmbeddedNats) -> None:
    process = await start_tail("sys.>", "--nats", nats_server.url)
    process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert stdout == b""
    assert "Traceback" not in stderr.decode()


@pytest.mark.parametrize("pattern", ["evt.>.filled", "evt..filled", "evt.fill*"])
def test_a_bad_pattern_is_a_usage_error_naming_it(pattern: str) -> None:
    result = subprocess.run(
        [*BASIS, "tail", pattern, "--nats", "nats://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"basis: error: Invalid value for 'PATTERN': invalid subject pattern {pattern!r}"
    )


def test_an_unreachable_server_is_exit_status_1_within_the_connect_timeout() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [*BASIS, "tail", "evt.>", "--nats", url, "--connect-timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"basis: error: cannot connect to NATS at {url} within 0.5s: ")
    assert "ConnectionRefusedError" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 5.0, f"took {elapsed:.1f}s with --connect-timeout 0.5"


def test_render_line_leaves_out_default_fields_and_cuts_long_values() -> None:
    tick = ClockTicked(id="c" * 80, ts=TS)
    line = render_line("sys.clock", encode(tick), datetime(2024, 1, 2, 3, 4, 5, 678_900))
    assert line == f"03:04:05.678  sys.clock  ClockTicked  id={'c' * 57}... ts=2023-11-14T22:13:20.123Z"


def test_render_json_prints_every_payload_as_one_line_of_json() -> None:
    assert render_json(b'{"a": [1,\n 2]}') == '{"a": [1, 2]}'
    assert render_json(b"not json\n") == '"not json\\n"'
