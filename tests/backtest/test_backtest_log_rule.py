"""What the log of a backtest keeps: every fact, the monitors' views only as checkpoints; ``basis replay``
recomputes every view from the facts and checks each checkpoint, and names a fact that was changed."""

from __future__ import annotations

import asyncio
import collections
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from backtestutil import load_summary, run_cli, utc_ns

from basis.backtest import Backtest, BacktestRequest
from basis.backtest.replay import replay_and_verify
from basis.bus.codec import decode, encode
from basis.bus.messages import RiskAssessment, Settled
from basis.bus.store import is_view, open_existing_store, run_uuid, sqlite_url

START, END = "2024-06-01T00:00:00Z", "2024-06-15T00:00:00Z"
DAYS = 14
VIEWS = ("PositionSnapshot", "ExposureSnapshot", "RiskAssessment", "PnlSnapshot")


@dataclass(frozen=True)
class Run:
    run_id: str
    store: Path
    digest: str
    rows: list[tuple[int, str, bytes]]
    """``(position, subject, payload)`` in log order."""

    @property
    def types(self) -> collections.Counter[str]:
        return collections.Counter(type(decode(data)).__name__ for _, _, data in self.rows)


def backtest(out: Path, interval_ns: int | None = None) -> Run:
    extra = {} if interval_ns is None else {"checkpoint_interval_ns": interval_ns}
    request = BacktestRequest(
        mode="btc_basis", start=utc_ns(START), end=utc_ns(END), out=out, report=False, **extra
    )
    summary = asyncio.run(Backtest(request).run())
    store = out / "events.sqlite"
    with open_existing_store(sqlite_url(store)) as s:
        rows = [(r.position, r.subject, r.data) for r in s.read(run_id=summary["run_id"])]
    assert summary["events"] == len(rows)
    return Run(summary["run_id"], store, summary["log_digest"], rows)


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return backtest(tmp_path_factory.mktemp("daily"))


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return backtest(tmp_path_factory.mktemp("every"), interval_ns=0)


def test_the_log_holds_every_fact_and_no_per_hour_snapshots(daily: Run, every: Run) -> None:
    assert daily.run_id == every.run_id
    # the facts are the same rows, in the same order, whatever the views kept
    facts = [(s, d) for _, s, d in daily.rows if not is_view(s)]
    assert facts == [(s, d) for _, s, d in every.rows if not is_view(s)]
    counted, all_views = daily.types, every.types
    assert counted["Bar"] == all_views["Bar"] > 24 * DAYS
    assert counted["Settled"] == all_views["Settled"] > 0
    assert counted["RunStarted"] == 1
    risk_changes = sum(
        1 for before, after in zip([None, *levels(every)], levels(every), strict=False) if before != after
    )
    for view in VIEWS:
        # the valuation loop published one of each per hour at least (positions: per balance event, at
        # least the three funding settlements a day)
        assert all_views[view] >= (3 if view == "PositionSnapshot" else 24) * DAYS, view
        # kept: one a day (plus the warm-up's first), at each risk-level change, and the last
        assert counted[view] <= DAYS + 3 + (
            risk_changes if view in ("RiskAssessment", "PnlSnapshot") else 0
        ), view
    assert sum(counted[v] for v in VIEWS) < sum(all_views[v] for v in VIEWS) / 10
    print({name: (all_views[name], counted[name]) for name in sorted(all_views)})


def levels(run: Run) -> list[str]:
    return [m.level for _, _, d in run.rows if isinstance(m := decode(d), RiskAssessment)]


def test_replay_recomputes_every_view_and_checks_each_checkpoint(daily: Run, every: Run) -> None:
    for run in (daily, every):
        result = replay_and_verify(run.run_id, sqlite_url(run.store))
        assert result["differences"] == []
        assert result["risk_checked"] is True
        stored_views = sum(1 for _, s, _ in run.rows if is_view(s))
        assert result["checkpoints"] == stored_views
    assert result["valuations"] >= 24 * DAYS


def test_replay_names_a_changed_fact(daily: Run, tmp_path: Path) -> None:
    """One funding settlement in the middle of the run is changed in the store: the checkpoint after it
    differs, and the difference names the settlement among the facts to look at."""
    settlements = [(p, d) for p, _, d in daily.rows if isinstance(decode(d), Settled)]
    position, data = settlements[len(settlements) // 2]
    original = decode(data)
    assert isinstance(original, Settled)
    changed = msgspec.structs.replace(original, amount=original.amount + 1.0)
    store = tmp_path / "events.sqlite"
    shutil.copy(daily.store, store)
    seq = next(i for i, (p, _, _) in enumerate(daily.rows, 1) if p == position)
    with sqlite3.connect(store) as db:
        updated = db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (encode(changed), run_uuid(daily.run_id).hex, seq),
        ).rowcount
    assert updated == 1

    result = replay_and_verify(daily.run_id, sqlite_url(store))
    first = result["differences"][0]
    assert first.startswith("checkpoint evt.")
    assert f"{position} Settled {original.id}" in first
    assert "recomputed" in first and "stored" in first


def test_the_checkpoint_interval_is_a_command_line_option(tmp_path: Path, every: Run) -> None:
    bad = run_cli(["backtest", "--mode", "btc_basis", "--checkpoint-interval", "1w", "-q"], tmp_path)
    assert bad.returncode == 2
    assert "checkpoint interval '1w': expected a number and a unit s, m, h or d (e.g. 1d, 6h)" in bad.stderr
    args = [
        "backtest",
        "--mode",
        "btc_basis",
        "--start",
        START,
        "--end",
        END,
        "--out",
        "out",
        "-q",
        "--no-report",
    ]
    ran = run_cli([*args, "--checkpoint-interval", "0"], tmp_path)
    assert ran.returncode == 0, ran.explain()
    assert load_summary(tmp_path / "out")["log_digest"] == every.digest
