"""A run rebuilt from its log: positions, equity and attribution, checked against what was recorded."""

from __future__ import annotations

from collections.abc import Iterable

from basis.bus.messages import Message, PnlSnapshot, PositionSnapshot
from basis.components.pricing import PriceBook

from .pnl import PnlProjection
from .positions import PositionsProjection


class RunProjection:
    """Positions and PnL of one run, from its messages (market data and events in log order) alone.

    The recorded monitor snapshots met on the way are kept (not used for the figures) so that
    :func:`verify` can compare the last of them with the projection.
    """

    def __init__(
        self, share_class: str = "USDT", *, prices: PriceBook | None = None, tolerance: float = 1e-9
    ) -> None:
        self.positions = PositionsProjection()
        self.pnl = PnlProjection(share_class, prices=prices, tolerance=tolerance)
        self.recorded: list[Message] = []
        self.messages = 0

    def process_event(self, message: Message) -> None:
        self.messages += 1
        self.positions.process_event(message)
        self.pnl.process_event(message)
        if isinstance(message, (PositionSnapshot, PnlSnapshot)):
            self.recorded.append(message)

    def run(self, messages: Iterable[Message]) -> RunProjection:
        for message in messages:
            self.process_event(message)
        return self


def project(
    messages: Iterable[Message], share_class: str = "USDT", *, prices: PriceBook | None = None
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
    """Differences between ``projection`` and the last recorded PositionSnapshot and PnlSnapshot
    (``recorded_snapshots``, default: those met in the log), compared exactly (``==``). Empty when
    they agree."""
    recorded = list(projection.recorded if recorded_snapshots is None else recorded_snapshots)
    out: list[str] = []
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
