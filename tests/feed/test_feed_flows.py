"""The investor-flows file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from basis.bus.ids import SequentialIds
from basis.bus.messages import InvestorDeposit, InvestorWithdrawal
from basis.components.feed import FlowsFileError, parse_utc, read_flows


def flows_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flows.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_deposits_and_withdrawals(tmp_path: Path) -> None:
    path = flows_file(
        tmp_path,
        "timestamp,amount\n2024-03-01T00:00:00Z,1000000\n\n2024-04-01T12:00:00+00:00,-250000.5\n"
        "2024-04-01T12:00:00,10\n",
    )
    flows = read_flows(path, SequentialIds("r", "flows"), asset="USDT")
    assert [type(f) for f in flows] == [InvestorDeposit, InvestorWithdrawal, InvestorDeposit]
    assert [f.amount for f in flows] == [1_000_000.0, 250_000.5, 10.0]
    assert [f.ts for f in flows] == [parse_utc("2024-03-01T00:00:00Z")] + [
        parse_utc("2024-04-01T12:00:00Z")
    ] * 2
    assert {f.asset for f in flows} == {"USDT"}
    assert [f.id for f in flows] == ["r.flows.1", "r.flows.2", "r.flows.3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":.*empty file"),
        ("time,amount\n2024-03-01T00:00:00Z,1\n", ":1: header is 'time,amount', expected 'timestamp,amount'"),
        ("timestamp,amount\n2024-03-01T00:00:00Z,1\n2024-13-01T00:00:00Z,1\n", ":3: bad timestamp"),
        ("timestamp,amount\n2024-03-01T00:00:00+01:00,1\n", ":2: bad timestamp: .* is not UTC"),
        ("timestamp,amount\n2024-03-01T00:00:00Z,ten\n", ":2: bad amount 'ten': not a number"),
        (
            "timestamp,amount\n2024-03-01T00:00:00Z,0\n",
            ":2: bad amount '0': must be a non-zero finite number",
        ),
        ("timestamp,amount\n2024-03-01T00:00:00Z,inf\n", ":2: bad amount 'inf'"),
        ("timestamp,amount\n2024-03-01T00:00:00Z,1,2\n", ":2: expected 2 fields"),
        (
            "timestamp,amount\n2024-03-02T00:00:00Z,1\n2024-03-01T00:00:00Z,1\n",
            ":3: timestamp 2024-03-01T00:00:00Z is before the previous row's 2024-03-02T00:00:00Z",
        ),
    ],
)
def test_malformed_flows_files(tmp_path: Path, text: str, expected: str) -> None:
    path = flows_file(tmp_path, text)
    with pytest.raises(FlowsFileError, match=expected) as caught:
        read_flows(path, SequentialIds("r", "flows"), asset="USDT")
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_missing_flows_file(tmp_path: Path) -> None:
    with pytest.raises(FlowsFileError, match=re.escape("nope.csv: cannot open")):
        read_flows(tmp_path / "nope.csv", SequentialIds("r", "flows"), asset="USDT")
