"""``basis compare RUN_DIR...``: two real runs side by side, and the errors for what is not a run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from backtestutil import load_summary, run_cli, utc_ns

from basis.backtest import Backtest, BacktestRequest


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """btc_basis over one week of June 2024 with 100,000 and with 50,000 USDT."""
    base = tmp_path_factory.mktemp("compare")
    outs = []
    for capital in (100_000.0, 50_000.0):
        out = base / f"run-{int(capital)}"
        request = BacktestRequest(
            mode="btc_basis",
            start=utc_ns("2024-06-01"),
            end=utc_ns("2024-06-08"),
            capital=capital,
            out=out,
            report=False,
        )
        asyncio.run(Backtest(request).run())
        outs.append(out)
    return outs[0], outs[1]


def row(stdout: str, name: str) -> list[str]:
    """The cells of the table row of figure ``name`` (cells are separated by two spaces or more)."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        if cells and cells[0] == name:
            return cells[1:]
    raise AssertionError(f"no row {name!r} in:\n{stdout}")


def test_two_runs_side_by_side_with_the_differences(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs
    result = run_cli(["compare", str(first), str(second)], first.parent)
    assert result.returncode == 0, result.explain()
    a, b = load_summary(first), load_summary(second)
    lines = result.stdout.splitlines()
    assert lines[0] == f"[1] {first}  ({a['run_id']})"
    assert lines[1] == f"[2] {second}  ({b['run_id']})"

    assert row(result.stdout, "mode") == ["btc_basis", "btc_basis"]  # the same: no difference shown
    assert row(result.stdout, "initial_equity") == ["100,000.0000", "50,000.0000", "-50,000.0000"]
    assert row(result.stdout, "pnl") == [
        f"{a['pnl']:,.4f}",
        f"{b['pnl']:,.4f}",
        f"{b['pnl'] - a['pnl']:+,.4f}",
    ]
    events = [f"{a['events']:,}", f"{b['events']:,}"]  # ints: thousands separators; the same count: no Δ
    delta = b["events"] - a["events"]
    assert row(result.stdout, "events") == events + ([f"{delta:+,}"] if delta else [])
    assert row(result.stdout, "log_digest") == [a["log_digest"][:16], b["log_digest"][:16], "≠"]
    assert row(result.stdout, "cost_to_yield")[:2] == [
        f"{a['cost_to_yield']:.4%}",
        f"{b['cost_to_yield']:.4%}",
    ]
    volatility = row(result.stdout, "volatility")
    assert volatility[2] == f"{(b['volatility'] - a['volatility']) * 100:+.4f} pp"
    for venue in ("binance", "bybit", "okx"):
        cells = row(result.stdout, f"funding_by_venue.{venue}.USDT")
        assert cells[:2] == [
            f"{a['funding_by_venue'][venue]['USDT']:,.4f}",
            f"{b['funding_by_venue'][venue]['USDT']:,.4f}",
        ]
    assert row(result.stdout, "monthly_returns.2024-06")[:2] == [
        f"{a['monthly_returns']['2024-06']:.4%}",
        f"{b['monthly_returns']['2024-06']:.4%}",
    ]


def test_a_figure_one_run_lacks(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    first, _ = two_runs
    older = tmp_path / "older"
    older.mkdir()
    summary = load_summary(first)
    del summary["sortino"]
    (older / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    result = run_cli(["compare", str(older), str(first)], tmp_path)
    assert result.returncode == 0, result.explain()
    expected = "null" if load_summary(first)["sortino"] is None else f"{load_summary(first)['sortino']:,.4f}"
    assert row(result.stdout, "sortino") == ["—", expected, "≠"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "{d}: no such run directory"),
        (lambda d: d.mkdir(), "{d}: no summary.json (not the output folder of a basis backtest?)"),
        (
            lambda d: (d.mkdir(), (d / "summary.json").write_text("[1, 2]", encoding="utf-8")),
            "{d}/summary.json: not a summary (a JSON object is expected)",
        ),
    ],
    ids=["missing-dir", "missing-summary", "not-a-summary"],
)
def test_what_is_not_a_run_is_named(
    two_runs: tuple[Path, Path], tmp_path: Path, make: object, message: str
) -> None:
    bad = tmp_path / "bad"
    make(bad)  # type: ignore[operator]
    result = run_cli(["compare", str(two_runs[0]), str(bad)], tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"basis: error: {message.format(d=bad)}\n"
    assert result.stdout == ""


def test_invalid_json_is_named(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text("{", encoding="utf-8")
    result = run_cli(["compare", str(bad), str(two_runs[0])], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"basis: error: {bad}/summary.json: not valid JSON (")


def test_one_run_is_not_a_comparison(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    result = run_cli(["compare", str(two_runs[0])], tmp_path)
    assert result.returncode == 2
    assert result.stderr == "basis: error: compare needs at least two run directories\n"
