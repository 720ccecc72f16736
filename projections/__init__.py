"""Projections: positions, equity and attribution rebuilt from a run's stored messages alone.

They reuse the monitors' pure state classes (PositionBook, PriceBook, PnlLedger), so a projection of a
run's log reproduces the monitors' last snapshots exactly; :func:`verify` lists any difference.
"""

from .pnl import PnlProjection
from .positions import PositionsProjection
from .replay import messages_of, replay, verify_run
from .run import RunProjection, project, verify

__all__ = [
    "PnlProjection",
    "PositionsProjection",
    "RunProjection",
    "messages_of",
    "project",
    "replay",
    "verify",
    "verify_run",
]
