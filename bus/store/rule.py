"""What the event log keeps: facts always, views as checkpoints.

The log exists so that positions and PnL can be rebuilt deterministically. It therefore keeps every
**fact**, what happened and cannot be derived: market data (``md.*``), commands (``cmd.*``), venue
outcomes and settlements, transfers, investor flows, strategy decisions, the run's description
(``RunStarted``) and dead letters (``dlq.*``) — every durable message that is not a view.

**Views** are what the monitors compute from facts: :class:`PositionSnapshot`, :class:`ExposureSnapshot`,
:class:`RiskAssessment` and :class:`PnlSnapshot`. They flow on the bus at every valuation (the tight loop
and any subscriber see each one), but the log keeps them only as checkpoints:

- **interval**: the first view of each kind at or after each multiple of ``interval_ns`` since the
  epoch (default one day: the first valuation at or after 00:00 UTC);
- **risk-level change**: a :class:`RiskAssessment` whose level differs from the one before it (the
  first of a run counts as a change), and the :class:`PnlSnapshot` that follows it (the end of the
  same valuation);
- **end of the run**: the last view of each kind, when it was not kept already, appended after
  everything else by :meth:`LogRule.finish`.

``interval_ns=0`` keeps every view. ``basis replay`` recomputes every view at every valuation from the
facts and checks each checkpoint exactly.

The rule sees the messages in log order as ``(subject, payload)`` and decides on each at once, so the
in-process backtest, the backtest over processes and the live recorder (per run) keep the same rows.
"""

from __future__ import annotations

import re

import msgspec

from .. import subjects

DAY_NS = 86_400 * 1_000_000_000
"""The default checkpoint interval: daily, at 00:00 UTC."""

POSITIONS = subjects.evt("positions", "snapshot")
EXPOSURE = subjects.evt("exposure", "snapshot")
RISK = subjects.evt("risk", "assessment")
PNL = subjects.evt("pnl", "snapshot")
VIEW_SUBJECTS: tuple[str, ...] = (POSITIONS, EXPOSURE, RISK, PNL)
"""The subjects of the views, in the order of one valuation."""

_UNITS_NS = {
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": DAY_NS,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


class _Head(msgspec.Struct):
    """The two fields of a view the rule reads (the rest of the payload is skipped, not decoded)."""

    ts: int = 0
    level: str = ""


_head = msgspec.json.Decoder(_Head)


def parse_interval(text: str) -> int:
    """A checkpoint interval in ns from ``<n>[s|m|h|d]`` (``1d``, ``6h``, ``90m``; a bare number is
    seconds); ``0`` keeps every view. Raises ValueError naming the text."""
    match = _INTERVAL.match(text)
    if match is None:
        raise ValueError(
            f"checkpoint interval {text!r}: expected a number and a unit s, m, h or d (e.g. 1d, 6h)"
        )
    return int(match.group(1)) * _UNITS_NS[match.group(2) or "s"]


def is_view(subject: str) -> bool:
    """True when messages on ``subject`` are views (kept only as checkpoints)."""
    return subject in _VIEWS


_VIEWS = frozenset(VIEW_SUBJECTS)


class LogRule:
    """Decides, message by message in log order, what one run's log keeps (see the module docstring)."""

    __slots__ = ("_held", "_level", "_period", "_pnl_due", "_seen", "interval_ns", "kept_views", "views")

    def __init__(self, interval_ns: int = DAY_NS) -> None:
        if interval_ns < 0:
            raise ValueError(f"checkpoint interval must not be negative, not {interval_ns}")
        self.interval_ns = interval_ns
        self.views = 0
        """Views seen."""
        self.kept_views = 0
        """Views kept (as checkpoints), those :meth:`finish` returned included."""
        self._period: dict[str, int] = {}
        self._held: dict[str, tuple[int, bytes]] = {}
        """The last view of each kind not kept: ``(order seen, payload)``."""
        self._level = ""
        self._pnl_due = False
        self._seen = 0

    def keeps(self, subject: str, data: bytes) -> bool:
        """True when the log keeps the message ``(subject, data)``; every fact is kept."""
        if subject not in _VIEWS:
            return True
        try:
            head = _head.decode(data)
        except msgspec.DecodeError:
            return True  # not a view the rule can read: kept, for the caller's own checks to judge
        self.views += 1
        keep = False
        if subject == RISK:
            if head.level != self._level:
                self._level = head.level
                self._pnl_due = keep = True
        elif subject == PNL and self._pnl_due:
            self._pnl_due = False
            keep = True
        every = self.interval_ns
        if every == 0:
            keep = True
        else:
            period = head.ts // every
            if self._period.get(subject) != period:
                self._period[subject] = period
                keep = True
        if keep:
            self._held.pop(subject, None)
            self.kept_views += 1
        else:
            self._seen += 1
            self._held[subject] = (self._seen, data)
        return keep

    def finish(self) -> list[tuple[str, bytes]]:
        """The end of the run: the last view of each kind that was not kept, in the order they were
        published, to append after everything else (and forget)."""
        held = sorted(self._held.items(), key=lambda item: item[1][0])
        self._held.clear()
        self.kept_views += len(held)
        return [(subject, data) for subject, (_, data) in held]
