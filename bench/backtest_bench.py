"""Backtest throughput and memory: every mode that backtests, the NautilusTrader peer's job beside the peer (the same
work, and the engine alone), and a synthetic job ten times as long.

    .venv/bin/python bench/backtest_bench.py [--reps 3] [--peer-reps 3] [--synthetic-reps 1]
                                             [--no-peer] [--no-peer-job] [--no-synthetic] [--modes a,b,c]
                                             [--python PY] [--compiled-python PY] [--peer-dir DIR]
                                             [--peer-data-root DIR] [--profile]

Builds. The backtests run on the basis that ``--python`` imports (default: this interpreter's). An editable
install (``pip install -e .``, what the README installs) is pure Python; a wheel (``pip install .``) has the
hot modules compiled with mypyc. ``--compiled-python PY`` runs the peer's job (both variants) a second time
on another interpreter, typically a wheel in its own environment, so that one run prints both builds::

    python3 -m venv /tmp/basis-wheel && /tmp/basis-wheel/bin/pip install -q .   # a few minutes of gcc
    .venv/bin/python bench/backtest_bench.py --compiled-python /tmp/basis-wheel/bin/python

Every result says which build it measured (``compiled``: true or false, from ``basis.compiled()`` in the
child). The modes and the synthetic memory check run on ``--python`` only.

Every backtest runs in a fresh process (``--child``) with the full tight loop. A child reports

``replay_s``        wall time of the replay: from the feed's first message until every message is
                    committed to the store (``Backtest.replay_seconds``; interpreter start, imports,
                    config, catalogue and component set-up before it, the digest and summary after).
                    The feed streams its CSV files during the replay: reading and parsing them is
                    inside this time (the peer loads its bars before it starts its clock);
``md_per_s``        market-data messages replayed (every series the mode replays, warm-up included)
                    ÷ ``replay_s``;
``peak_rss_mib``    ``ru_maxrss`` of the child at the end of the run.

Figures are medians over ``--reps`` fresh processes. Jobs:

``pure_lending_usdt``, ``btc_basis``, ``eth_basis``  each over its default window, the SQLite store on;
``peer_job``        the same work as the peer with ``--persist``: the peer's model on our side, with the
                    SQLite event store on (in a temporary folder, as ``basis backtest`` writes it).
                    ``btc_basis`` with the whole hedge on Binance (``hedge_venues=[binance]``,
                    ``hedge_allocation={binance: 1.0}``) over the bundled data, whose default window
                    [2024-01-01T01:00Z, 2025-07-01T00:00Z) of bar *close* times is the peer's
                    [2024-01-01, 2025-07-01) of bar *open* times less the last bar (it closes at the
                    window's exclusive end). Its events are counted both ways: the peer's way (Binance
                    BTCUSDT spot bars + perp bars + funding events, as in the files: not the bars that
                    mark the Binance files' holes to Bybit, which the peer does not have) and all market
                    data (we also replay the ETH reference price, gas and those marks, which the peer
                    does not model);
``peer_job_engine`` the engine alone, beside the peer without ``--persist``: the same job with no store.
                    Every message the log rule keeps is handed to a writer that only counts it (the
                    run's store is an empty ``memory://`` one), so the components, the bus and the log
                    rule do all their work and nothing is encoded into rows, kept or written. With no
                    log there is no log digest: its runs are compared on a fingerprint of the message
                    count, the peer-style count, the final equity and the funding PnL;
``synthetic_1x``, ``synthetic_10x``  ``peer_job`` on a synthetic data root only (``bundled_data=False``,
                    :mod:`basis.components.feed.synthetic`, hourly bars, Binance BTCUSDT, Bybit ETHUSDT as
                    the ETH reference, gas) over the bundled span and over ten times that span: peak RSS
                    must stay flat (within ``--rss-tolerance``, default 15 %).

The peer (``bash run.sh`` of the NautilusTrader harness in ``--peer-dir``, default ``$BASIS_PEER_BENCH`` or
``../shared/bench/nautilus``) runs after all of ours, never in parallel: once with ``--persist`` (it streams
every message to Feather files) and once without, both over ``--peer-data-root`` (default: our bundled
data, the same files). A harness folder without its virtual environment is set up with its ``setup.sh``,
in place when the folder is writable, else in a copy (``--peer-copy``, default ``$TMPDIR/peer``; a copy
that is already set up is used as it is). For each build:

``same_work_ratio`` ``peer_job`` peer-style events/s ÷ the peer's events/s with ``--persist``;
``engine_ratio``    ``peer_job_engine`` peer-style events/s ÷ the peer's events/s without it;
``peak_rss_ratio``  the larger of the two peak RSS ratios (ours ÷ the peer's, same work and engine alone),
                    so that a ratio <= 1 means lighter than the peer in both.

Each result is printed as one JSON line as it comes in (``{"run": ...}``, ``{"summary": ...}``,
``{"memory": ...}``, ``{"peer": ...}``, ``{"peer_comparison": ...}`` per build), then a short table, and
last the line ``{"comparison": {"same_work_ratio", "engine_ratio", "peak_rss_ratio", "compiled"}}`` for the
pure-Python build (the compiled one when only that was measured). Exit status 1 when a run fails, when
runs of one job disagree on the log digest (determinism) or when the 10x job's peak RSS exceeds the 1x
job's by more than the tolerance; the ratios are reported, not enforced.

``--profile`` runs ``peer_job_engine`` once under cProfile on ``--python`` and prints the top functions by
cumulative and by own time instead (nothing else runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_DIR = Path(
    os.environ.get("BASIS_PEER_BENCH", Path(__file__).resolve().parents[2] / "shared" / "bench" / "nautilus")
)
"""The NautilusTrader harness (``setup.sh``, ``run.sh``); ``$BASIS_PEER_BENCH`` or ``--peer-dir`` point
elsewhere."""
PEER_COPY = Path(tempfile.gettempdir()) / "peer"
"""Where a read-only harness is copied and set up (``--peer-copy``)."""
PEER_DATA_ROOT = REPO / "data"
"""The data the peer replays (``--peer-data-root``): our bundled data, the files our backtests read."""
PEER_VENVS = (".venv-nt2", ".venv-nt1")
MODES = (
    "pure_lending_usdt",
    "btc_basis",
    "eth_basis",
    "eth_staking_only",
    "eth_leveraged",
    "usdt_eth_staking_hedged_simple",
    "usdt_eth_staking_hedged_leveraged",
)
PEER_OVERRIDES: dict[str, Any] = {"hedge_venues": ["binance"], "hedge_allocation": {"binance": 1.0}}
PEER_SUBJECTS = ("md.bar.binance.BTCUSDT", "md.bar.binance.BTCUSDT-PERP", "md.funding.binance.BTCUSDT")
"""The peer's events on the bus: Binance BTCUSDT spot bars, perp bars and funding rates."""
MARKED_ID = b'"gap-fill.'
"""In the payload of a bar that marks a hole of its series (:mod:`basis.backtest.gaps`, ids
``gap-fill.<n>``): not in the peer's files, so not one of its events."""
NO_STORE = "none"
"""``store`` of a child spec: no store (:class:`CountingWriter`)."""
TARGETS = {"same_work_ratio": 2.0, "engine_ratio": 1.0, "peak_rss_ratio": 1.0}
"""What the comparison aims at: events/s ratios at least these, the peak RSS ratio at most this."""


# --- child: one backtest in this (fresh) process ----------------------------------------------------


class CountingWriter:
    """Stands in for :class:`~basis.bus.store.StoreWriter` in a run with no store: it takes every message
    the log rule keeps and only counts it: all of them, and the peer's events among them."""

    last: CountingWriter | None = None

    def __init__(self, store: object, run_id: str, **_: object) -> None:
        self.run_id = run_id
        self.appended = 0
        self.peer_style = 0
        self._peer_subjects = frozenset(PEER_SUBJECTS)
        CountingWriter.last = self

    def append(self, subject: str, data: bytes) -> None:
        self.appended += 1
        if subject in self._peer_subjects and MARKED_ID not in data:
            self.peer_style += 1

    def extend(self, records: Iterable[tuple[str, bytes]]) -> None:
        for subject, data in records:
            self.append(subject, data)

    def flush(self) -> None:
        """Nothing is kept."""

    def close(self) -> None:
        """Nothing to commit."""

    def __enter__(self) -> CountingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def without_store() -> None:
    """Make this process's backtests run with no store: :class:`CountingWriter` for the store writer, and
    no log digest (there is no log; the run's ``memory://`` store stays empty)."""
    import basis.backtest.run as run_module

    for name in ("StoreWriter", "digest"):
        if not hasattr(run_module, name):
            raise SystemExit(f"backtest_bench: basis.backtest.run has no {name}; update without_store()")
    setattr(run_module, "StoreWriter", CountingWriter)  # noqa: B010 (a module attribute, by name)
    setattr(run_module, "digest", lambda store, run_id, **_: "")  # noqa: B010


def child(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio
    import resource

    from basis import compiled
    from basis.backtest import Backtest, BacktestRequest
    from basis.bus.store import open_store

    no_store = spec.get("store") == NO_STORE
    if no_store:
        without_store()
    out = Path(spec["out"])
    request = BacktestRequest(
        mode=spec["mode"],
        overrides=spec.get("overrides", {}),
        data=[Path(p) for p in spec.get("data", [])],
        bundled_data=spec.get("bundled_data", True),
        out=out,
        store="memory://" if no_store else None,
        report=False,
    )
    backtest = Backtest(request)
    if spec.get("profile"):
        import cProfile

        profile = cProfile.Profile()
        summary = profile.runcall(asyncio.run, backtest.run())
        profile.dump_stats(spec["profile"])
    else:
        summary = asyncio.run(backtest.run())
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    replay_s = backtest.replay_seconds or float("nan")
    result: dict[str, Any] = {
        "job": spec["job"],
        "mode": spec["mode"],
        "store": "none" if no_store else "sqlite",
        "start": summary["start"],
        "end": summary["end"],
        "replay_s": replay_s,
        "md_events": summary["market_data_events"],
        "md_per_s": summary["market_data_events"] / replay_s,
        "log_messages": summary["events"],
        "peak_rss_mib": peak_rss_mib,
        "final_equity": summary["final_equity"],
        "funding_pnl": summary["attribution"]["funding"],
        "log_digest": summary["log_digest"],
        "compiled": compiled(),
    }
    peer_events = None
    if no_store:
        writer = CountingWriter.last
        assert writer is not None
        peer_events = writer.peer_style
        fingerprint = [
            writer.appended,
            peer_events,
            repr(result["final_equity"]),
            repr(result["funding_pnl"]),
        ]
        result["log_digest"] = "no store: " + hashlib.sha256(json.dumps(fingerprint).encode()).hexdigest()
    elif spec.get("peer_count"):
        with open_store(summary["store"]) as store:
            peer_events = sum(
                MARKED_ID not in record.data
                for subject in PEER_SUBJECTS
                for record in store.read(run_id=summary["run_id"], subject=subject)
            )
    if peer_events is not None:
        result["peer_style_events"] = peer_events
        result["peer_style_per_s"] = peer_events / replay_s
    return result


# --- parent -------------------------------------------------------------------------------------


PYTHON = sys.executable
"""The interpreter of the backtests (``--python``)."""


def run_child(spec: dict[str, Any], timeout: float, python: str | None = None) -> dict[str, Any]:
    return run_script(Path(__file__), spec, timeout, f"backtest_bench: {spec['job']}", python)


def run_script(
    script: Path, argument: Any, timeout: float, label: str, python: str | None = None
) -> dict[str, Any]:
    """Run ``script --child <argument as JSON>`` on ``python`` (default :data:`PYTHON`) in a fresh process
    and return the JSON of the ``RESULT`` line it prints; exit naming ``label`` when it fails or times
    out."""
    cmd = [python or PYTHON, str(script.resolve()), "--child", json.dumps(argument)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False)
    except subprocess.TimeoutExpired:
        sys.exit(f"{label} exceeded {timeout:.0f} s")
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"{label} failed (exit {proc.returncode})")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    sys.stderr.write(proc.stdout + proc.stderr)
    sys.exit(f"{label}: no RESULT line")


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def measure(
    job: str, spec: dict[str, Any], reps: int, work: Path, timeout: float, python: str | None = None
) -> dict[str, Any]:
    runs = []
    for rep in range(reps):
        out = work / f"{job}-{rep}"
        shutil.rmtree(out, ignore_errors=True)
        result = run_child({**spec, "job": job, "out": str(out)}, timeout, python)
        shutil.rmtree(out, ignore_errors=True)
        print(json.dumps({"run": rep + 1, **result}), flush=True)
        runs.append(result)
    digests = sorted({r["log_digest"] for r in runs})
    summary: dict[str, Any] = {
        "job": job,
        "mode": spec["mode"],
        "store": runs[0]["store"],
        "start": runs[0]["start"],
        "end": runs[0]["end"],
        "reps": reps,
        "md_events": runs[0]["md_events"],
        "md_per_s_median": median_of(runs, "md_per_s"),
        "replay_s_median": median_of(runs, "replay_s"),
        "replay_s_min": min(r["replay_s"] for r in runs),
        "peak_rss_mib_median": median_of(runs, "peak_rss_mib"),
        "final_equity": runs[0]["final_equity"],
        "funding_pnl": runs[0]["funding_pnl"],
        "log_messages": runs[0]["log_messages"],
        "deterministic": len(digests) == 1,
        "compiled": runs[0]["compiled"],
    }
    if "peer_style_events" in runs[0]:
        summary["peer_style_events"] = runs[0]["peer_style_events"]
        summary["peer_style_per_s_median"] = median_of(runs, "peer_style_per_s")
    print(json.dumps({"summary": summary}), flush=True)
    return summary


def write_synthetic_root(root: Path, factor: int) -> None:
    from basis.components.feed.synthetic import benchmark_window, write_synthetic, write_synthetic_gas

    start, end = benchmark_window(factor)
    write_synthetic(
        root, start=start, end=end, venue="binance", symbols={"BTCUSDT": 42_000.0}, interval_s=3_600
    )
    write_synthetic(
        root, start=start, end=end, venue="bybit", symbols={"ETHUSDT": 2_300.0}, interval_s=3_600, seed=8
    )
    write_synthetic_gas(root, start=start, end=end)


def peer_harness(timeout: float) -> Path | None:
    """The folder of a NautilusTrader harness that is set up (one of :data:`PEER_VENVS` in it): ``PEER_DIR``
    itself, or its copy in :data:`PEER_COPY`; set up once (``bash setup.sh``) when neither is, in place if
    ``PEER_DIR`` is writable, else in a fresh copy. None (skip the peer) without a harness."""
    if not (PEER_DIR / "run.sh").is_file():
        print(f"backtest_bench: no peer harness at {PEER_DIR}; skipping the peer", file=sys.stderr)
        return None

    def ready(folder: Path) -> bool:
        return (folder / "run.sh").is_file() and any((folder / venv).is_dir() for venv in PEER_VENVS)

    for folder in (PEER_DIR, PEER_COPY):
        if ready(folder):
            return folder
    folder = PEER_DIR
    if not os.access(PEER_DIR, os.W_OK):
        folder = PEER_COPY
        print(
            f"backtest_bench: {PEER_DIR} is read-only; copying the peer harness to {folder}", file=sys.stderr
        )
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(
            PEER_DIR, folder, ignore=shutil.ignore_patterns(*PEER_VENVS, "results", "__pycache__")
        )
        for path in (folder, *folder.rglob("*")):
            path.chmod(path.stat().st_mode | 0o200)  # the copy of a read-only tree is read-only too
    print(f"backtest_bench: setting up the peer once (bash {folder / 'setup.sh'})", file=sys.stderr)
    subprocess.run(["bash", str(folder / "setup.sh")], check=True, timeout=max(timeout, 1800.0))
    return folder


def run_peer(reps: int, timeout: float, *, persist: bool = False) -> dict[str, Any] | None:
    """The peer's summary line (``bash run.sh --reps N [--persist]`` over :data:`PEER_DATA_ROOT`), also
    printed as ``{"peer": ...}``; None when there is no harness."""
    folder = peer_harness(timeout)
    if folder is None:
        return None
    cmd = ["bash", str(folder / "run.sh"), "--reps", str(reps), "--data-root", str(PEER_DATA_ROOT)]
    if persist:
        cmd.append("--persist")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * max(reps, 1), check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"backtest_bench: the peer failed (exit {proc.returncode}): {' '.join(cmd)}")
    peer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    peer.setdefault("persist", persist)
    print(json.dumps({"peer": peer}), flush=True)
    return peer


def compare(
    same_work: dict[str, Any],
    engine: dict[str, Any],
    peer_persist: dict[str, Any],
    peer_engine: dict[str, Any],
) -> dict[str, Any]:
    """Ours ÷ the peer's, for one build: the same work (our store on, the peer's ``--persist``) and the
    engine alone (neither keeps a log)."""
    rss_same = same_work["peak_rss_mib_median"] / peer_persist["peak_rss_mib_median"]
    rss_engine = engine["peak_rss_mib_median"] / peer_engine["peak_rss_mib_median"]
    return {
        "compiled": same_work["compiled"],
        "same_work_ratio": same_work["peer_style_per_s_median"] / peer_persist["events_per_s_median"],
        "engine_ratio": engine["peer_style_per_s_median"] / peer_engine["events_per_s_median"],
        "peak_rss_ratio": max(rss_same, rss_engine),
        "peak_rss_ratio_same_work": rss_same,
        "peak_rss_ratio_engine": rss_engine,
        "ours_peer_style_events": same_work["peer_style_events"],
        "ours_md_events": same_work["md_events"],
        "peer_events": peer_persist["events"],
        "same_work": {
            "ours_events_per_s": same_work["peer_style_per_s_median"],
            "ours_md_per_s": same_work["md_per_s_median"],
            "ours_replay_s": same_work["replay_s_median"],
            "ours_peak_rss_mib": same_work["peak_rss_mib_median"],
            "peer_events_per_s": peer_persist["events_per_s_median"],
            "peer_run_s": peer_persist["run_s_median"],
            "peer_peak_rss_mib": peer_persist["peak_rss_mib_median"],
            "time_ratio_peer_over_ours": peer_persist["run_s_median"] / same_work["replay_s_median"],
        },
        "engine": {
            "ours_events_per_s": engine["peer_style_per_s_median"],
            "ours_md_per_s": engine["md_per_s_median"],
            "ours_replay_s": engine["replay_s_median"],
            "ours_peak_rss_mib": engine["peak_rss_mib_median"],
            "peer_events_per_s": peer_engine["events_per_s_median"],
            "peer_run_s": peer_engine["run_s_median"],
            "peer_peak_rss_mib": peer_engine["peak_rss_mib_median"],
            "time_ratio_peer_over_ours": peer_engine["run_s_median"] / engine["replay_s_median"],
        },
        "same_messages": same_work["log_messages"] == engine["log_messages"]
        and same_work["peer_style_events"] == engine["peer_style_events"],
        "ours_funding_pnl_usdt": same_work["funding_pnl"],
        "peer_funding_pnl_usdt": peer_persist["funding_pnl_usdt"],
    }


def build_name(compiled: bool) -> str:
    return "compiled (mypyc)" if compiled else "pure Python"


def table(
    results: list[dict[str, Any]],
    comparisons: list[dict[str, Any]],
    peers: dict[str, dict[str, Any]],
    flat: dict[str, Any] | None,
) -> str:
    lines = [
        (
            f"{'job':<16} {'build':<8} {'window':<22} {'md events':>10} {'replay s':>9} {'md/s':>9} "
            f"{'peer-style/s':>12} {'RSS MiB':>8} {'det.':>4}"
        ),
    ]
    for r in results:
        window = f"{r['start'][:10]}..{r['end'][:10]}"
        peer_style = f"{r['peer_style_per_s_median']:,.0f}" if "peer_style_per_s_median" in r else ""
        lines.append(
            f"{r['job']:<16} {'mypyc' if r['compiled'] else 'pure':<8} {window:<22} {r['md_events']:>10,} "
            f"{r['replay_s_median']:>9.3f} {r['md_per_s_median']:>9,.0f} {peer_style:>12} "
            f"{r['peak_rss_mib_median']:>8.1f} {'yes' if r['deterministic'] else 'NO':>4}"
        )
    for name, peer in peers.items():
        lines.append(
            f"{name:<16} {'':<8} {peer['start'][:10] + '..' + peer['end'][:10]:<22} {peer['events']:>10,} "
            f"{peer['run_s_median']:>9.3f} {'':>9} {peer['events_per_s_median']:>12,.0f} "
            f"{peer['peak_rss_mib_median']:>8.1f}"
        )
    for c in comparisons:
        s, e = c["same_work"], c["engine"]
        lines += [
            "",
            f"peer job, basis {build_name(c['compiled'])} (compiled: {str(c['compiled']).lower()}): "
            f"{c['ours_peer_style_events']:,} peer-style events ({c['ours_md_events']:,} market data); "
            f"nautilus {c['peer_events']:,} events",
            f"  same work    basis + SQLite store {s['ours_events_per_s']:>9,.0f}/s ({s['ours_replay_s']:.3f} s)  "
            f"nautilus --persist {s['peer_events_per_s']:>9,.0f}/s ({s['peer_run_s']:.3f} s)  "
            f"ratio {c['same_work_ratio']:.2f} (target >= {TARGETS['same_work_ratio']:g})",
            f"  engine only  basis, no store      {e['ours_events_per_s']:>9,.0f}/s ({e['ours_replay_s']:.3f} s)  "
            f"nautilus           {e['peer_events_per_s']:>9,.0f}/s ({e['peer_run_s']:.3f} s)  "
            f"ratio {c['engine_ratio']:.2f} (target >= {TARGETS['engine_ratio']:g})",
            f"  peak RSS     same work {s['ours_peak_rss_mib']:.0f} vs {s['peer_peak_rss_mib']:.0f} MiB, "
            f"engine {e['ours_peak_rss_mib']:.0f} vs {e['peer_peak_rss_mib']:.0f} MiB: "
            f"ratio {c['peak_rss_ratio']:.2f} (the larger; target <= {TARGETS['peak_rss_ratio']:g})",
            f"  funding      ours {c['ours_funding_pnl_usdt']:,.2f} USDT  peer {c['peer_funding_pnl_usdt']:,.2f} "
            "USDT (information: the strategies size differently)",
        ]
        if not c["same_messages"]:
            lines.append("  WARNING: the runs with and without the store kept different messages")
    if flat is not None:
        lines.append("")
        lines.append(
            f"memory: synthetic 1x {flat['rss_1x_mib']:.1f} MiB ({flat['md_events_1x']:,} md), "
            f"10x {flat['rss_10x_mib']:.1f} MiB ({flat['md_events_10x']:,} md): +{flat['growth']:.1%} "
            f"({'flat' if flat['flat'] else 'NOT flat'}, tolerance {flat['tolerance']:.0%})"
        )
    return "\n".join(lines)


def profile_engine(timeout: float, top: int) -> int:
    """``--profile``: ``peer_job_engine`` once under cProfile; print the top functions."""
    import pstats

    with tempfile.TemporaryDirectory(prefix="basis-bench-") as tmp:
        stats_file = Path(tmp) / "engine.pstats"
        spec = {
            "job": "peer_job_engine",
            "mode": "btc_basis",
            "overrides": PEER_OVERRIDES,
            "store": NO_STORE,
            "out": str(Path(tmp) / "out"),
            "profile": str(stats_file),
        }
        result = run_child(spec, timeout)
        print(json.dumps({"run": 1, **result}), flush=True)
        stats = pstats.Stats(str(stats_file))
        stats.strip_dirs()
        for key in ("cumulative", "tottime"):
            stats.sort_stats(key).print_stats(top)
    return 0


def main() -> int:
    global PEER_COPY, PEER_DATA_ROOT, PEER_DIR, PYTHON
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh-process runs per job (medians)")
    parser.add_argument("--peer-reps", type=int, default=3, help="fresh-process runs of each peer variant")
    parser.add_argument("--synthetic-reps", type=int, default=1)
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated modes (default: every mode)"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the NautilusTrader peer")
    parser.add_argument(
        "--no-peer-job", action="store_true", help="skip our side of the peer's job (and the peer)"
    )
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic 1x/10x memory check")
    parser.add_argument("--rss-tolerance", type=float, default=0.15)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per run")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose basis the backtests run")
    parser.add_argument(
        "--compiled-python",
        help="also run the peer's job on this interpreter's basis (a mypyc wheel in its own environment)",
    )
    parser.add_argument("--peer-dir", type=Path, default=PEER_DIR, help="the NautilusTrader harness folder")
    parser.add_argument(
        "--peer-copy", type=Path, default=PEER_COPY, help="where a read-only harness is set up"
    )
    parser.add_argument("--peer-data-root", type=Path, default=PEER_DATA_ROOT, help="the peer's --data-root")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only profile peer_job_engine once (cProfile) and print its top",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    PYTHON = args.python
    PEER_DIR, PEER_COPY, PEER_DATA_ROOT = (
        args.peer_dir.resolve(),
        args.peer_copy,
        args.peer_data_root.resolve(),
    )
    if args.profile:
        return profile_engine(args.timeout, args.profile_top)
    pythons = [args.python] + ([args.compiled_python] if args.compiled_python else [])

    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    peer_jobs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="basis-bench-") as tmp:
        work = Path(tmp)
        for mode in [m for m in args.modes.split(",") if m]:
            results.append(measure(mode, {"mode": mode}, args.reps, work, args.timeout))
        if not args.no_peer_job:
            for python in pythons:
                job = {"mode": "btc_basis", "overrides": PEER_OVERRIDES, "peer_count": True}
                same_work = measure("peer_job", job, args.reps, work, args.timeout, python)
                engine = measure(
                    "peer_job_engine", {**job, "store": NO_STORE}, args.reps, work, args.timeout, python
                )
                results += [same_work, engine]
                peer_jobs.append((same_work, engine))
            if args.compiled_python and not peer_jobs[-1][0]["compiled"]:
                print(
                    f"backtest_bench: {args.compiled_python} runs a pure-Python basis (compiled: false)",
                    file=sys.stderr,
                )
        flat = None
        if not args.no_synthetic:
            synthetic: dict[int, dict[str, Any]] = {}
            for factor in (1, 10):
                root = work / f"synthetic-{factor}x"
                write_synthetic_root(root, factor)
                spec = {
                    "mode": "btc_basis",
                    "overrides": PEER_OVERRIDES,
                    "data": [str(root)],
                    "bundled_data": False,
                }
                synthetic[factor] = measure(
                    f"synthetic_{factor}x", spec, args.synthetic_reps, work, args.timeout
                )
                results.append(synthetic[factor])
                shutil.rmtree(root, ignore_errors=True)
            growth = synthetic[10]["peak_rss_mib_median"] / synthetic[1]["peak_rss_mib_median"] - 1.0
            flat = {
                "rss_1x_mib": synthetic[1]["peak_rss_mib_median"],
                "rss_10x_mib": synthetic[10]["peak_rss_mib_median"],
                "md_events_1x": synthetic[1]["md_events"],
                "md_events_10x": synthetic[10]["md_events"],
                "growth": growth,
                "tolerance": args.rss_tolerance,
                "flat": growth <= args.rss_tolerance,
            }
            print(json.dumps({"memory": flat}), flush=True)
            failed |= not flat["flat"]
    failed |= not all(r["deterministic"] for r in results)
    comparisons: list[dict[str, Any]] = []
    peers: dict[str, dict[str, Any]] = {}
    if not args.no_peer and peer_jobs:
        peer_persist = run_peer(args.peer_reps, args.timeout, persist=True)
        peer_engine = run_peer(args.peer_reps, args.timeout) if peer_persist is not None else None
        if peer_persist is not None and peer_engine is not None:
            peers = {"nautilus-persist": peer_persist, "nautilus": peer_engine}
            for same_work, engine in peer_jobs:
                comparisons.append(compare(same_work, engine, peer_persist, peer_engine))
                print(json.dumps({"peer_comparison": comparisons[-1]}), flush=True)
    print(f"\n{table(results, comparisons, peers, flat)}\n\n(total {time.perf_counter() - started:.0f} s)")
    if comparisons:
        headline = next((c for c in comparisons if not c["compiled"]), comparisons[0])
        keys = ("same_work_ratio", "engine_ratio", "peak_rss_ratio", "compiled")
        print(json.dumps({"comparison": {key: headline[key] for key in keys}}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
