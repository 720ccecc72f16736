"""What a backtest is asked to do."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basis.bus.store.rule import DAY_NS


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    mode: str
    environment: str = "all-simulation"
    data: Sequence[Path] = ()
    """Extra data roots after the bundled one; a later root extends an earlier one in time."""
    bundled_data: bool = True
    """Replay the bundled dataset (the first root). False: only ``data`` (e.g. a synthetic benchmark root)."""
    start: int | None = None
    """Window start, ns UTC (default: the span where all the mode's series exist)."""
    end: int | None = None
    capital: float | None = None
    """Initial capital in the share class (default: the mode's ``initial_capital``)."""
    flows: Path | None = None
    out: Path = Path("out")
    store: str | None = None
    """Event store URL (default: ``sqlite:///<out>/events.sqlite``)."""
    run_id: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    config_root: Path | None = None
    progress: Callable[[float], None] | None = None
    """Called with the fraction of the window replayed so far."""
    report: bool = True
    processes: bool = False
    """Run every component but the feed in its own process, in lockstep over NATS (same log)."""
    nats: str | None = None
    """With ``processes``: the NATS server to use (default: an embedded nats-server)."""
    stress: str | None = None
    """A stress scenario, ``NAME@DATE`` (:mod:`basis.backtest.stress`): the bundled series, shocked."""
    checkpoint_interval_ns: int = DAY_NS
    """How often the log keeps the monitors' views (:class:`~basis.bus.store.LogRule`): the first of
    each kind after every multiple of this interval since the epoch (default daily at 00:00 UTC); 0 keeps
    every view. Views at a risk-level change and at the end of the run are kept whatever it is."""
