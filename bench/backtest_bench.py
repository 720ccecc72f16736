"""Backtest throughput and memory: the three modes, the NautilusTrader peer's job beside the peer, and a
synthetic job ten times as long.

    .venv/bin/python bench/backtest_bench.py [--reps 3] [--peer-reps 3] [--synthetic-reps 1]
                                             [--no-peer] [--no-synthetic] [--modes a,b,c] [--python PY]

The backtests run on the basis that ``--python`` imports (default: this interpreter's). An editable install
(``pip install -e .``) is pure Python; a wheel (``pip install .``) has the hot modules compiled with mypyc,
whose replay is about 15% faster. Each result says which it measured (``compiled``). To measure the compiled build beside
a development checkout::

    python3 -m venv /tmp/basis-wheel && /tmp/basis-wheel/bin/pip install -q .
    .venv/bin/python bench/backtest_bench.py --python /tmp/basis-wheel/bin/python

Every backtest runs in a fresh process (``--child``) with the full tight loop and the event store on
(SQLite in a temporary folder, as ``basis backtest`` writes it). A child reports

``replay_s``        wall time of the replay: from the feed's first message until every message is
                    committed to the store (``Backtest.replay_seconds``; interpreter start, imports,
                    config, catalogue and component set-up before it, the digest and summary after).
                    The feed streams its CSV files during the replay: reading and parsing them is
                    inside this time (the peer loads its bars before it starts its clock);
``md_per_s``        market-data messages replayed (every series the mode replays, warm-up included)
                    ÷ ``replay_s``;
``peak_rss_mib``    ``ru_maxrss`` of the child at the end of the run.

Figures are medians over ``--reps`` fresh processes. Jobs:

``pure_lending_usdt``, ``btc_basis``, ``eth_basis``  each over its default window;
``peer_job``        the peer's model on our side: ``btc_basis`` with the whole hedge on Binance
                    (``hedge_venues=[binance]``, ``hedge_allocation={binance: 1.0}``) over the bundled data,
                    whose default window [2024-01-01T01:00Z, 2025-07-01T00:00Z) of bar *close* times is the
                    peer's [2024-01-01, 2025-07-01) of bar *open* times less the last bar (it closes at the
                    window's exclusive end). Its events are counted both ways: the peer's way (Binance
                    BTCUSDT spot bars + perp bars + funding events) and all market data (we also replay the
                    ETH reference price and gas, which the peer does not model). Compared with the peer
                    (``bash $BASIS_PEER_BENCH/run.sh``, run after ours, never in parallel):
                    events/s ratio, time ratio (peer ``run_s_median`` ÷ our ``replay_s``), peak RSS ratio,
                    and our funding PnL beside the peer's (information only: the strategies size
                    differently);
``synthetic_1x``, ``synthetic_10x``  the same job on a synthetic data root only (``bundled_data=False``,
                    :mod:`basis.components.feed.synthetic`, hourly bars, Binance BTCUSDT, Bybit ETHUSDT as
                    the ETH reference, gas) over the bundled span and over ten times that span: peak RSS
                    must stay flat (within ``--rss-tolerance``, default 15 %).

Each result is printed as one JSON line as it comes in; then a summary JSON line and a short table.
Exit status 1 when a run fails, when runs of one job disagree on the log digest (determinism) or when
the 10x job's peak RSS exceeds the 1x job's by more than the tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_DIR = Path(
    os.environ.get("BASIS_PEER_BENCH", Path(__file__).resolve().parents[2] / "shared" / "bench" / "nautilus")
)
"""The NautilusTrader harness (``setup.sh``, ``run.sh``); ``$BASIS_PEER_BENCH`` points elsewhere."""
MODES = ("pure_lending_usdt", "btc_basis", "eth_basis")
PEER_OVERRIDES: dict[str, Any] = {"hedge_venues": ["binance"], "hedge_allocation": {"binance": 1.0}}
PEER_SUBJECTS = ("md.bar.binance.BTCUSDT", "md.bar.binance.BTCUSDT-PERP", "md.funding.binance.BTCUSDT")
"""The peer's events on the bus: Binance BTCUSDT spot bars, perp bars and funding rates."""


# --- child: one backtest in this (fresh) process ----------------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio
    import resource

    from basis import compiled
    from basis.backtest import Backtest, BacktestRequest
    from basis.bus.store import open_store

    out = Path(spec["out"])
    request = BacktestRequest(
        mode=spec["mode"],
        overrides=spec.get("overrides", {}),
        data=[Path(p) for p in spec.get("data", [])],
        bundled_data=spec.get("bundled_data", True),
        out=out,
        report=False,
    )
    backtest = Backtest(request)
    summary = asyncio.run(backtest.run())
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    replay_s = backtest.replay_seconds or float("nan")
    result: dict[str, Any] = {
        "job": spec["job"],
        "mode": spec["mode"],
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
    if spec.get("peer_count"):
        with open_store(summary["store"]) as store:
            peer_events = sum(
                1 for subject in PEER_SUBJECTS for _ in store.read(run_id=summary["run_id"], subject=subject)
            )
        result["peer_style_events"] = peer_events
        result["peer_style_per_s"] = peer_events / replay_s
    return result


# --- parent -------------------------------------------------------------------------------------


PYTHON = sys.executable
"""The interpreter of the backtests (``--python``)."""


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    return run_script(Path(__file__), spec, timeout, f"backtest_bench: {spec['job']}")


def run_script(script: Path, argument: Any, timeout: float, label: str) -> dict[str, Any]:
    """Run ``script --child <argument as JSON>`` on :data:`PYTHON` in a fresh process and return the JSON
    of the ``RESULT`` line it prints; exit naming ``label`` when it fails or times out."""
    cmd = [PYTHON, str(script.resolve()), "--child", json.dumps(argument)]
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


def measure(job: str, spec: dict[str, Any], reps: int, work: Path, timeout: float) -> dict[str, Any]:
    runs = []
    for rep in range(reps):
        out = work / f"{job}-{rep}"
        shutil.rmtree(out, ignore_errors=True)
        result = run_child({**spec, "job": job, "out": str(out)}, timeout)
        shutil.rmtree(out, ignore_errors=True)
        print(json.dumps({"run": rep + 1, **result}), flush=True)
        runs.append(result)
    digests = sorted({r["log_digest"] for r in runs})
    summary: dict[str, Any] = {
        "job": job,
        "mode": spec["mode"],
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


def run_peer(reps: int, timeout: float) -> dict[str, Any] | None:
    run_sh = PEER_DIR / "run.sh"
    if not run_sh.is_file():
        print(f"backtest_bench: no peer harness at {PEER_DIR}; skipping the peer", file=sys.stderr)
        return None
    if not (PEER_DIR / ".venv-nt2").is_dir() and not (PEER_DIR / ".venv-nt1").is_dir():
        print(f"backtest_bench: setting up the peer once (bash {PEER_DIR / 'setup.sh'})", file=sys.stderr)
        subprocess.run(["bash", str(PEER_DIR / "setup.sh")], check=True, timeout=timeout)
    proc = subprocess.run(
        ["bash", str(run_sh), "--reps", str(reps)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"backtest_bench: the peer failed (exit {proc.returncode})")
    peer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps({"peer": peer}), flush=True)
    return peer


def compare(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    return {
        "job": "peer_job vs nautilus_trader",
        "ours_peer_style_events": ours["peer_style_events"],
        "peer_events": peer["events"],
        "ours_md_events": ours["md_events"],
        "ours_events_per_s": ours["peer_style_per_s_median"],
        "ours_md_per_s": ours["md_per_s_median"],
        "peer_events_per_s": peer["events_per_s_median"],
        "events_per_s_ratio": ours["peer_style_per_s_median"] / peer["events_per_s_median"],
        "ours_replay_s": ours["replay_s_median"],
        "peer_run_s": peer["run_s_median"],
        "time_ratio_peer_over_ours": peer["run_s_median"] / ours["replay_s_median"],
        "ours_peak_rss_mib": ours["peak_rss_mib_median"],
        "peer_peak_rss_mib": peer["peak_rss_mib_median"],
        "peak_rss_ratio": ours["peak_rss_mib_median"] / peer["peak_rss_mib_median"],
        "ours_funding_pnl_usdt": ours["funding_pnl"],
        "peer_funding_pnl_usdt": peer["funding_pnl_usdt"],
    }


def table(
    results: list[dict[str, Any]], comparison: dict[str, Any] | None, flat: dict[str, Any] | None
) -> str:
    builds = {"compiled (mypyc)" if r["compiled"] else "pure Python" for r in results}
    lines = [
        f"basis build: {', '.join(sorted(builds))}",
        (
            f"{'job':<17} {'window':<22} {'md events':>10} {'replay s':>9} {'md/s':>9} {'peer-style/s':>12} "
            f"{'RSS MiB':>8} {'det.':>4}"
        ),
    ]
    for r in results:
        window = f"{r['start'][:10]}..{r['end'][:10]}"
        peer_style = f"{r['peer_style_per_s_median']:,.0f}" if "peer_style_per_s_median" in r else ""
        lines.append(
            f"{r['job']:<17} {window:<22} {r['md_events']:>10,} {r['replay_s_median']:>9.3f} "
            f"{r['md_per_s_median']:>9,.0f} {peer_style:>12} {r['peak_rss_mib_median']:>8.1f} "
            f"{'yes' if r['deterministic'] else 'NO':>4}"
        )
    if comparison is not None:
        c = comparison
        lines.append("")
        lines.append(
            f"peer job: ours {c['ours_peer_style_events']:,} peer-style events ({c['ours_md_events']:,} market "
            f"data) in {c['ours_replay_s']:.3f} s; nautilus {c['peer_events']:,} events in {c['peer_run_s']:.3f} s"
        )
        lines.append(
            f"  events/s   ours {c['ours_events_per_s']:,.0f}  peer {c['peer_events_per_s']:,.0f}  "
            f"ratio {c['events_per_s_ratio']:.2f}  (target >= 1.5)"
        )
        lines.append(f"  time       peer/ours {c['time_ratio_peer_over_ours']:.2f}")
        lines.append(
            f"  peak RSS   ours {c['ours_peak_rss_mib']:.0f} MiB  peer {c['peer_peak_rss_mib']:.0f} MiB  "
            f"ratio {c['peak_rss_ratio']:.2f}  (target <= 1)"
        )
        lines.append(
            f"  funding    ours {c['ours_funding_pnl_usdt']:,.2f} USDT  peer {c['peer_funding_pnl_usdt']:,.2f} "
            "USDT (information: the strategies size differently)"
        )
    if flat is not None:
        lines.append("")
        lines.append(
            f"memory: synthetic 1x {flat['rss_1x_mib']:.1f} MiB ({flat['md_events_1x']:,} md), "
            f"10x {flat['rss_10x_mib']:.1f} MiB ({flat['md_events_10x']:,} md): +{flat['growth']:.1%} "
            f"({'flat' if flat['flat'] else 'NOT flat'}, tolerance {flat['tolerance']:.0%})"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh-process runs per job (medians)")
    parser.add_argument("--peer-reps", type=int, default=3)
    parser.add_argument("--synthetic-reps", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes (default: all three)")
    parser.add_argument("--no-peer", action="store_true", help="skip the NautilusTrader peer")
    parser.add_argument(
        "--no-peer-job", action="store_true", help="skip our side of the peer's job (and the peer)"
    )
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic 1x/10x memory check")
    parser.add_argument("--rss-tolerance", type=float, default=0.15)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per run")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose basis the backtests run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    global PYTHON
    PYTHON = args.python

    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="basis-bench-") as tmp:
        work = Path(tmp)
        for mode in [m for m in args.modes.split(",") if m]:
            results.append(measure(mode, {"mode": mode}, args.reps, work, args.timeout))
        peer_job = None
        if not args.no_peer_job:
            peer_job = measure(
                "peer_job",
                {"mode": "btc_basis", "overrides": PEER_OVERRIDES, "peer_count": True},
                args.reps,
                work,
                args.timeout,
            )
            results.append(peer_job)
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
    comparison = None
    if not args.no_peer and peer_job is not None:
        peer = run_peer(args.peer_reps, args.timeout)
        if peer is not None:
            comparison = compare(peer_job, peer)
            print(json.dumps({"comparison": comparison}), flush=True)
    print(f"\n{table(results, comparison, flat)}\n\n(total {time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
