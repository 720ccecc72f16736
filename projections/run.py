"""A run rebuilt from its log: positions, equity and attribution, every view at every valuation, and each
stored checkpoint checked against them."""

from __future__ import annotations

from collections.abc import Iterable

from basis.bus import subjects
from basis.bus.balances import BALANCE_EVENTS
from basis.bus.messages import Message, PnlSnapshot, PositionSnapshot
from basis.components.pricing import PriceBook
from basis.components.risk_monitor import RiskBook

from .pnl import PnlProjection
from .positions import PositionsProjection
from .views import VIEWS, ViewsProjection


class RunProjection:
    """Positions and PnL of one run, and every view at every valuation, from its facts (market data and
    events in log order) alone.

    The stored views (checkpoints) met on the way are not used for the figures: each is checked against
    the views recomputed at its time (:attr:`views`), and the last PositionSnapshot and PnlSnapshot are
    kept so that :func:`verify` can compare them with the projection's final state.
    """

    def __init__(
        self,
        share_class: str = "USDT",
        *,
        prices: PriceBook | None = None,
        tolerance: float = 1e-9,
        risk: RiskBook | None = None,
    ) -> None:
        self.positions = PositionsProjection()
        self.pnl = PnlProjection(share_class, prices=prices, tolerance=tolerance)
        if risk is not None:
            risk.prices = self.pnl.prices
        self.views = ViewsProjection(self.pnl, self.positions, risk)
        self.pnl.on_tick = self.views.on_tick
        self.recorded: list[Message] = []
        self.messages = 0

    def process_event(self, message: Message, position: int = 0) -> None:
        """One message of the log (``position``: its place, named when a checkpoint there differs)."""
        self.messages += 1
        self.pnl.process_event(message)  # first: a tick the message follows is valued before it
        if isinstance(message, VIEWS):
            self.views.check(message, position, subjects.subject_of(message))
            if isinstance(message, (PositionSnapshot, PnlSnapshot)):
                self._keep_last(message)
            return
        self.positions.process_event(message)
        if isinstance(message, BALANCE_EVENTS):
            self.views.on_balance(message, position)

    def _keep_last(self, message: Message) -> None:
        for i, kept in enumerate(self.recorded):
            if type(kept) is type(message):
                self.recorded[i] = message
                return
        self.recorded.append(message)

    def run(self, messages: Iterable[Message | tuple[int, Message]]) -> RunProjection:
        for item in messages:
            if isinstance(item, tuple):
                self.process_event(item[1], item[0])
            else:
                self.process_event(item)
        return self


def project(
    messages: Iterable[Message | tuple[int, Message]],
    share_class: str = "USDT",
    *,
    prices: PriceBook | None = None,
) -> RunProjection:
    """Rebuild a run from ``messages`` (log order)."""
    return RunProjection(share_class, prices=prices).run(messages)


def _last(messages: Iterable[Message], cls: type[Message]) -> Message | None:
    last = None
    for message in messages:
        if isinstance(message, cls):
            last = message
    return last


def _compare_map(name: str, projected: dict[str, float], recorded: dict[str, float]) -> list[str]:
    out = []
    for k in sorted(set(projected) | set(recorded)):
        p, r = projected.get(k), recorded.get(k)
        if p != r:
            out.append(f"{name}[{k}]: projected {p!r} != recorded {r!r}")
    return out


def verify(projection: RunProjection, recorded_snapshots: Iterable[Message] | None = None) -> list[str]:
    """Differences between ``projection`` and what the log recorded, compared exactly (``==``): every
    stored checkpoint that equals no view recomputed at its time, then the last recorded PositionSnapshot
    and PnlSnapshot (``recorded_snapshots``, default: those met in the log) against the final state.
    Empty when they agree."""
    recorded = list(projection.recorded if recorded_snapshots is None else recorded_snapshots)
    out: list[str] = list(projection.views.differences)
    positions = _last(recorded, PositionSnapshot)
    if not isinstance(positions, PositionSnapshot):
        out.append("no PositionSnapshot recorded")
    else:
        out += _compare_map("positions", projection.positions.positions, dict(positions.positions))
    pnl = _last(recorded, PnlSnapshot)
    if not isinstance(pnl, PnlSnapshot):
        out.append("no PnlSnapshot recorded")
        return out
    fields = projection.pnl.snapshot_fields()
    for name in ("share_class", "equity", "net_flows", "pnl"):
        p, r = fields[name], getattr(pnl, name)
        if p != r:
            out.append(f"{name}: projected {p!r} != recorded {r!r}")
    attribution = fields["attribution"]
    assert isinstance(attribution, dict)
    out += _compare_map("attribution", attribution, dict(pnl.attribution))
    return out
