"""The composition root of a backtest: every component on one in-process bus, driven by the feed.

The only place that knows the run is simulated. Components are the same ones that run as separate
processes over NATS; here they share a deterministic :class:`InProcessTransport` and a
:class:`SimClock`, so two runs with the same inputs publish the same messages in the same order.
Every md/cmd/evt/dlq message is offered to the event store as it is delivered, and the store keeps what
:class:`~basis.bus.store.LogRule` keeps: every fact, and the monitors' views as checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock, SimClock
from basis.bus.codec import encode
from basis.bus.component import Component
from basis.bus.ids import IdFactory, SequentialIds
from basis.bus.messages import (
    Control,
    InstructionFilled,
    InstructionRejected,
    InvestorDeposit,
    PnlSnapshot,
    RiskAssessment,
    RunStarted,
)
from basis.bus.store import VIEW_SUBJECTS, LogRule, StoreWriter, digest, open_store, sqlite_url
from basis.bus.transport.base import ERROR_HEADER, Envelope
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.exposure_monitor import ExposureMonitor
from basis.components.feed import MarketDataFeed, common_window, coverages, discover, iso, read_flows
from basis.components.pnl_monitor import PnlMonitor
from basis.components.position_monitor import PositionMonitor
from basis.components.pricing import PRICE_MESSAGES, PriceBook
from basis.components.risk_monitor import RiskMonitor
from basis.configs import LendingVenueConfig, RunConfig, load_run_config, to_masked_dict
from basis.data import DATA_ROOT

from .errors import BacktestError, RunAborted
from .gaps import GapFill, plan_gap_fills
from .metrics import RunMetrics
from .request import BacktestRequest
from .strategies import build_router, build_strategy, strategy_params
from .stress import parse_stress, write_stressed_root
from .wiring import Wiring, wire

if TYPE_CHECKING:
    from .processes import ComponentProcesses

MONITORS = ("position-monitor", "exposure-monitor", "risk-monitor", "pnl-monitor", "strategy", "router")
"""The components after the venue gateways, in the order the replay starts them."""

DURABLE = tuple(pattern for stream in subjects.STREAMS for pattern in stream.subjects)
"""What the store is offered: every JetStream family (md, cmd, evt, dlq); :class:`LogRule` decides what
it keeps."""
WARMUP_NS = 2 * 86_400 * 1_000_000_000
"""Market data replayed before the window opens, so every series has a value when capital arrives (daily
AAVE snapshots, two-hourly gas samples). Nothing trades before the initial deposit at the window start."""
INSTRUCTIONS_SHOWN = 2000


@dataclass(slots=True)
class Collector:
    """Follows the run for the summary and the report (bounded memory)."""

    share_class: str
    opens: int
    """The window start: snapshots of the warm-up before it are not part of the run's figures."""
    metrics: RunMetrics = field(default_factory=RunMetrics)
    risk: dict[str, float] = field(default_factory=dict)
    last_pnl: PnlSnapshot | None = None
    instructions: list[dict[str, Any]] = field(default_factory=list)
    instructions_total: int = 0
    rejected_total: int = 0
    dead_letters: list[str] = field(default_factory=list)

    def on_pnl(self, message: PnlSnapshot) -> None:
        if message.ts < self.opens:
            return
        self.last_pnl = message
        # the snapshot's attribution and the risk figures are never changed once made (on_risk makes a
        # new dict each time), so the metrics may keep them as they are
        self.metrics.observe(message.ts, message.equity, message.net_flows, message.attribution, self.risk)

    def on_risk(self, message: RiskAssessment) -> None:
        risk = {f"margin_ratio:{venue}": ratio for venue, ratio in message.margin_ratios.items()}
        if message.health_factor is not None:
            risk["health_factor"] = message.health_factor
        if message.ltv is not None:
            risk["ltv"] = message.ltv
        risk["delta_drift"] = message.delta_drift
        self.risk = risk

    def on_outcome(self, message: InstructionFilled | InstructionRejected) -> None:
        if message.venue == "router":
            return
        self.instructions_total += 1
        if isinstance(message, InstructionRejected):
            self.rejected_total += 1
        if len(self.instructions) >= INSTRUCTIONS_SHOWN:
            return
        if isinstance(message, InstructionFilled):
            detail = ", ".join(f"{c.instrument} {c.delta:+.6g}" for c in message.changes)
            status = "filled"
        else:
            detail, status = message.reason, "rejected"
        self.instructions.append(
            {
                "ts": message.ts,
                "venue": message.venue,
                "kind": message.instruction_id,
                "detail": detail,
                "status": status,
            }
        )


def default_run_id(request: BacktestRequest, window: tuple[int, int], capital: float) -> str:
    """Same inputs, same id: ``<mode>-<start date>-<hash of the inputs>``."""
    fields: dict[str, Any] = {
        "mode": request.mode,
        "env": request.environment,
        "window": window,
        "capital": capital,
        "data": [str(p) for p in request.data],
        "flows": str(request.flows or ""),
        "overrides": dict(request.overrides),
    }
    if not request.bundled_data:
        fields["bundled_data"] = False
    if request.stress is not None:
        fields["stress"] = request.stress
    inputs = json.dumps(fields, sort_keys=True, default=str)
    return f"{request.mode}-{iso(window[0])[:10]}-{hashlib.sha256(inputs.encode()).hexdigest()[:10]}"


class Backtest:
    """One backtest: prepare (all input checks, before anything runs), then :meth:`run`."""

    def __init__(self, request: BacktestRequest) -> None:
        self.request = request
        self.config: RunConfig = load_run_config(
            request.mode, request.environment, root=request.config_root, overrides=request.overrides or None
        )
        self.roots = [DATA_ROOT, *request.data] if request.bundled_data else list(request.data)
        self.stress: dict[str, Any] | None = None
        if request.stress is not None:
            if not request.bundled_data:
                raise BacktestError("--stress shocks the bundled data: it cannot go with --no-bundled-data")
            scenario, shock_start = parse_stress(request.stress)
            stressed = write_stressed_root(scenario, shock_start, DATA_ROOT, request.out / "stressed-data")
            self.roots[0] = stressed
            self.stress = scenario.to_dict(shock_start)
        if not self.roots:
            raise BacktestError("no data root: without the bundled data, pass --data")
        for root in request.data:
            if not Path(root).is_dir():
                raise BacktestError(f"--data {root}: not a directory")
        self.strategy_params = strategy_params(self.config)  # checked before anything is read or written
        catalogue = discover(self.roots)
        self.wiring: Wiring = wire(self.config, catalogue)
        self.coverage = coverages(self.wiring.series, self.roots)
        self.default_window = common_window(
            [c for c in self.coverage if c.spec.name not in self.wiring.unbounded]
        )
        self.window = self._window()
        self.capital = float(
            request.capital if request.capital is not None else self.config.mode.initial_capital
        )
        if not self.capital > 0:
            raise BacktestError(f"--capital must be positive, got {self.capital:g}")
        self.run_id = request.run_id or default_run_id(request, self.window, self.capital)
        share = self.config.share_class.name
        self.flows: list[Any] = [
            InvestorDeposit(id="flows.initial", ts=self.window[0], amount=self.capital, asset=share)
        ]
        if request.flows is not None:
            self.flows += read_flows(request.flows, SequentialIds(self.run_id, "flows"), asset=share)
            outside = [f for f in self.flows if not self.window[0] <= f.ts < self.window[1]]
            if outside:
                raise BacktestError(
                    f"{request.flows}: flow at {iso(outside[0].ts)} is outside the window "
                    f"{iso(self.window[0])} .. {iso(self.window[1])}"
                )
        self.gap_fills: list[GapFill] = plan_gap_fills(
            self.wiring, self.coverage, self.roots, self.window, catalogue
        )
        self.replay_seconds: float | None = None
        """Wall time of the replay itself, set by :meth:`run`: from the feed's first message until every
        message is committed to the store (components built and files found before; the digest, summary
        and report after)."""
        self._replay_started: float | None = None
        self._shutdown_seconds = 0.0
        """With ``processes``: the time spent stopping them, which is not part of the replay."""

    def _window(self) -> tuple[int, int]:
        lo, hi = self.default_window
        start = self.request.start if self.request.start is not None else lo
        end = self.request.end if self.request.end is not None else hi
        if start >= end:
            raise BacktestError(f"window start {iso(start)} is not before its end {iso(end)}")
        if start < lo or end > hi:
            raise BacktestError(
                f"window {iso(start)} .. {iso(end)} is outside the data: mode {self.config.mode.name} has all "
                f"its series from {iso(lo)} to {iso(hi)}"
            )
        return start, end

    async def run(self) -> dict[str, Any]:
        request = self.request
        out = Path(request.out)
        out.mkdir(parents=True, exist_ok=True)
        store_url = request.store or sqlite_url((out / "events.sqlite").resolve())
        if request.store is None:
            for suffix in ("", "-wal", "-shm"):
                (out / f"events.sqlite{suffix}").unlink(missing_ok=True)
        with open_store(store_url) as store:
            if store.run_info(self.run_id) is not None:
                raise BacktestError(
                    f"run {self.run_id} is already in {store_url}; pass another --run-id or --store"
                )
            wall = time.perf_counter()
            # on an error in the replay, the writer commits what it can and lets that error through
            rule = LogRule(request.checkpoint_interval_ns)
            with StoreWriter(store, self.run_id) as writer:
                collector, counts = await self._replay(writer, rule)
                writer.extend(rule.finish())  # the end of the run: its last views
            done = time.perf_counter()
            if self._replay_started is not None:
                self.replay_seconds = done - self._replay_started - self._shutdown_seconds
            wall = done - wall
            log_digest = digest(store, self.run_id)
        from .summary import build_summary, write_outputs

        summary = build_summary(self, collector, counts, writer.appended, log_digest, wall, store_url)
        write_outputs(out, summary, collector, report=request.report)
        return summary

    async def _replay(self, writer: StoreWriter, rule: LogRule) -> tuple[Collector, dict[str, int]]:
        clock = SimClock(self.window[0] - WARMUP_NS)
        if not self.request.processes:
            return await self._replay_on(writer, rule, InProcessTransport(), clock, None)
        from .processes import ComponentProcesses

        async with ComponentProcesses(
            mode=self.config.mode.name,
            environment=self.request.environment,
            overrides=self.request.overrides,
            clock=clock,
            nats_url=self.request.nats,
        ) as processes:
            assert processes.conductor is not None
            replayed = await self._replay_on(writer, rule, processes.conductor.transport, clock, processes)
            stopping = time.perf_counter()
        self._shutdown_seconds = time.perf_counter() - stopping
        return replayed

    async def _replay_on(
        self,
        writer: StoreWriter,
        rule: LogRule,
        transport: InProcessTransport,
        clock: SimClock,
        processes: ComponentProcesses | None,
    ) -> tuple[Collector, dict[str, int]]:
        """The replay on ``transport``: the components built here on one in-process bus, or (with
        ``processes``) each in its own process, in lockstep through the conductor's transport."""
        config = self.config
        share = config.share_class.name
        warmup_start = clock.now_ns()

        def bus(name: str) -> Bus:
            return Bus(transport, component=name)

        def ids(name: str) -> SequentialIds:
            return SequentialIds("", name)

        keeps = rule.keeps
        append = writer.append
        views = frozenset(VIEW_SUBJECTS)

        def record(envelope: Envelope) -> None:  # plain: the in-process transport calls it directly
            subject = envelope.subject
            if subject not in views or keeps(subject, envelope.data):  # facts skip the call
                append(subject, envelope.data)

        for pattern in DURABLE:
            await transport.subscribe(pattern, record)  # in-process: a plain function is called directly

        collector = Collector(share, opens=self.window[0])
        feed_name = "market-data"

        async def on_dead_letter(envelope: Envelope) -> None:
            error = envelope.headers.get(ERROR_HEADER, "")
            collector.dead_letters.append(f"{envelope.subject}: {error}")
            if len(collector.dead_letters) == 1:
                await transport.publish(
                    subjects.control(feed_name),
                    encode(
                        Control(id="backtest.stop", ts=clock.now_ns(), component=feed_name, command="stop")
                    ),
                )

        await transport.subscribe("dlq.>", on_dead_letter)

        components: list[Component] = []
        if processes is None:
            # One price book for every component of the run, kept current here: each message applied once.
            prices = PriceBook(
                references=self.wiring.references, perp_marks=self.wiring.perp_marks, hosted=True
            )
            await bus("prices").subscribe("md.>", prices.take, types=PRICE_MESSAGES)
            components = [factory(bus(name), clock, ids(name)) for name, factory in self.wiring.venues]
            components += [
                PositionMonitor(bus("position-monitor"), clock, ids("position-monitor")),
                ExposureMonitor(
                    bus("exposure-monitor"), clock, ids("exposure-monitor"), share_class=share, prices=prices
                ),
                build_risk_monitor(config, bus("risk-monitor"), clock, ids("risk-monitor"), prices),
                PnlMonitor(bus("pnl-monitor"), clock, ids("pnl-monitor"), share_class=share, prices=prices),
                build_strategy(config, self.strategy_params, bus("strategy"), clock, ids("strategy"), prices),
                build_router(config, bus("router"), clock, ids("router")),
            ]
        observer = bus("backtest")
        await observer.subscribe(subjects.evt("pnl", "snapshot"), collector.on_pnl, types=(PnlSnapshot,))
        await observer.subscribe(
            subjects.evt("risk", "assessment"), collector.on_risk, types=(RiskAssessment,)
        )
        await observer.subscribe("evt.*.filled", collector.on_outcome, types=(InstructionFilled,))
        await observer.subscribe("evt.*.rejected", collector.on_outcome, types=(InstructionRejected,))

        span = self.window[1] - self.window[0]
        progress = self.request.progress
        feed = MarketDataFeed(
            bus(feed_name),
            clock,
            ids(feed_name),
            series=self.wiring.series,
            roots=self.roots,
            start=warmup_start,
            end=self.window[1],
            flows=self.flows,
            streams=[g.stream(ids("gap-fill")) for g in self.gap_fills],
            progress=(lambda ts: progress(max(0.0, (ts - self.window[0]) / span))) if progress else None,
        )
        for component in components:
            await component.start()
        if processes is not None:  # each started after the previous one, in the order above
            await processes.start([name for name, _ in self.wiring.venues] + list(MONITORS))
        await feed.start()
        await observer.publish(
            RunStarted(
                id="backtest.1",
                ts=self.window[0],
                run_id=self.run_id,
                mode=config.mode.name,
                share_class=share,
                environment=self.request.environment,
                start=self.window[0],
                end=self.window[1],
                price_references={k: tuple(v) for k, v in self.wiring.references.items()},
                perp_marks={k: tuple(v) for k, v in self.wiring.perp_marks.items()},
                config=to_masked_dict(config),
            )
        )
        self._replay_started = time.perf_counter()
        counts = await feed.run()
        collector.metrics.finish()
        if collector.dead_letters:
            raise RunAborted(f"run stopped at {iso(clock.now_ns())}: {collector.dead_letters[0]}")
        if transport.handler_errors:
            raise RunAborted(f"{transport.handler_errors} handler error(s) during the run; see the log")
        return collector, counts


def build_risk_monitor(
    config: RunConfig, bus: Bus, clock: Clock, ids: IdFactory, prices: PriceBook
) -> RiskMonitor:
    """The risk monitor with the mode's limits and the liquidation thresholds of its lending venue (also
    what ``basis component run risk-monitor`` runs)."""
    from basis.components.risk_monitor import LiquidationThresholds, RiskLimits

    risk = config.mode.risk
    limits = RiskLimits(
        margin_warning=risk.margin_ratio_warning,
        margin_critical=risk.margin_ratio_critical,
        health_warning=risk.health_factor_warning,
        health_critical=risk.health_factor_critical,
        drift_warning=risk.delta_drift_warning,
        drift_critical=risk.delta_drift_critical,
    )
    hedged = (
        config.mode.asset if config.market_neutral and config.mode.asset != config.share_class.name else None
    )
    thresholds = LiquidationThresholds()
    for venue in config.venues.values():
        if isinstance(venue.config, LendingVenueConfig):
            params = venue.config.risk_params
            thresholds = LiquidationThresholds(
                emode=params.emode.liquidation_threshold,
                standard=params.standard.liquidation_threshold,
                emode_assets=frozenset(params.emode_assets),
            )
    return RiskMonitor(
        bus, clock, ids, limits=limits, thresholds=thresholds, hedged_asset=hedged, prices=prices
    )
