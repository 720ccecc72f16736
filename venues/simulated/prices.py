"""Price series a simulated venue follows: which bars mark which instrument, and their recent closes."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from basis.bus import subjects

PERP_SUFFIX = "-PERP"


@dataclass(frozen=True, slots=True)
class Series:
    """One bar series on the bus: ``md.bar.<venue>.<symbol>[-PERP]``."""

    venue: str
    symbol: str
    market: str

    @property
    def subject(self) -> str:
        return subjects.md("bar", self.venue, subjects.bar_instrument(self.symbol, self.market))


def parse_instrument(instrument: str) -> tuple[str, str]:
    """``"BTCUSDT-PERP"`` -> ``("BTCUSDT", "perp")``, ``"BTCUSDT"`` -> ``("BTCUSDT", "spot")``
    (the instrument token of the bar subjects, :func:`basis.bus.subjects.bar_instrument`)."""
    if instrument.endswith(PERP_SUFFIX):
        return instrument[: -len(PERP_SUFFIX)], "perp"
    return instrument, "spot"


def perp_instrument(symbol: str) -> str:
    return subjects.bar_instrument(symbol, "perp")


class PriceHistory:
    """The last ``size`` closes of one series by bar close time (``Bar.ts``)."""

    __slots__ = ("_px", "_size", "_ts")

    def __init__(self, size: int = 256) -> None:
        self._ts: list[int] = []
        self._px: list[float] = []
        self._size = size

    def add(self, ts: int, price: float) -> None:
        if not self._ts or ts > self._ts[-1]:
            self._ts.append(ts)
            self._px.append(price)
        else:
            i = bisect.bisect_left(self._ts, ts)
            if i < len(self._ts) and self._ts[i] == ts:
                self._px[i] = price
            else:
                self._ts.insert(i, ts)
                self._px.insert(i, price)
        if len(self._ts) > self._size:
            del self._ts[0], self._px[0]

    @property
    def latest(self) -> float | None:
        return self._px[-1] if self._px else None

    def at_or_before(self, ts: int) -> float | None:
        """The latest close at or before ``ts``; None when every close is later (or none was seen)."""
        i = bisect.bisect_right(self._ts, ts)
        return self._px[i - 1] if i else None
