"""Exposure monitor: each position's value in USDT and in the share class, and its underlying delta.

:class:`Exposures` is pure state (no I/O; the projections reuse it). :class:`ExposureMonitor` publishes
an :class:`ExposureSnapshot` after every :class:`PositionSnapshot`, and on a :class:`ClockTicked` when a
unit value it uses changed (or the positions changed since its last valuation).

Delta is the exposure to the underlying asset, in units of that asset:

- ``BaseToken`` BTC / ETH / WETH: +quantity of BTC / ETH (WETH counts as ETH);
- liquid staking tokens (weETH, wstETH): quantity × LST rate, in ETH;
- ``Perp``: the signed contracts of the base asset; ``PerpNotional`` and USDT: 0 (the numéraire);
- ``aToken`` / ``debtToken``: ± the underlying's delta (an LST underlying counts at its rate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import NamedTuple

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.instruments import parse
from basis.bus.messages import (
    ClockTicked,
    Exposure,
    ExposureSnapshot,
    Message,
    PositionSnapshot,
)

from .pricing import NUMERAIRES, PriceBook, follow_prices, perp_base, underlying_of

_NOTIONAL, _PERP, _HOLDING = range(3)
_DELTA_PLANS: dict[str, tuple[int, str, float]] = {}


def _delta_plan(key: str) -> tuple[int, str, float]:
    """``(kind, asset, sign)`` of ``key``: what :func:`delta_of` reads from the key, parsed once."""
    plan = _DELTA_PLANS.get(key)
    if plan is None:
        _, position_type, symbol = parse(key)
        if position_type == "PerpNotional":
            plan = (_NOTIONAL, "USDT", 0.0)
        elif position_type == "Perp":
            plan = (_PERP, perp_base(symbol), 1.0)
        else:
            sign = -1.0 if position_type == "debtToken" else 1.0
            plan = (_HOLDING, underlying_of(position_type, symbol), sign)
        if len(_DELTA_PLANS) < 100_000:
            _DELTA_PLANS[key] = plan
    return plan


def delta_of(key: str, quantity: float, prices: PriceBook) -> tuple[str, float]:
    """``(asset, delta)``: the underlying asset of ``key`` and the exposure to it, in asset units."""
    kind, asset, sign = _delta_plan(key)
    if kind == _NOTIONAL:
        return "USDT", 0.0
    if kind == _PERP:
        return prices.aliases.get(asset, asset), quantity
    if asset in NUMERAIRES:
        return asset, 0.0
    if prices.is_lst(asset):
        return "ETH", sign * quantity * prices.lst_rate(asset, key)
    return prices.aliases.get(asset, asset), sign * quantity


class Holdings(NamedTuple):
    """The part of a valuation that does not depend on prices: each key's quantity, asset and delta
    (keys sorted) and the net delta per asset (:func:`holdings`)."""

    keys: tuple[str, ...]
    rows: tuple[tuple[str, float, str, float], ...]
    """``(key, quantity, asset, delta)`` per key, keys sorted."""
    net_delta: dict[str, float]
    lst_generation: int
    """The book's :attr:`PriceBook.lst_generation` the deltas hold for; -1 when a delta is valued at an
    LST rate (it moves with prices: the holdings hold for one valuation only)."""


def holdings(positions: Mapping[str, float], prices: PriceBook) -> Holdings:
    """Quantity, asset and delta of each key of ``positions`` (keys sorted) and the net delta per
    asset (summed in key order from 0.0; assets sorted)."""
    keys = tuple(sorted(positions))
    rows: list[tuple[str, float, str, float]] = []
    net: dict[str, float] = {}
    generation = prices.lst_generation
    for k in keys:
        q = positions[k]
        asset, delta = delta_of(k, q, prices)
        rows.append((k, q, asset, delta))
        if asset not in NUMERAIRES:
            net[asset] = net.get(asset, 0.0) + delta
        kind, underlying, _ = _delta_plan(k)
        if kind == _HOLDING and underlying not in NUMERAIRES and prices.is_lst(underlying):
            generation = -1
    return Holdings(keys, tuple(rows), dict(sorted(net.items())) if len(net) > 1 else net, generation)


class Valuation(NamedTuple):
    """One valuation of a book: what an :class:`ExposureSnapshot` carries, plus the unit values and the
    holdings used."""

    share_class: str
    exposures: dict[str, Exposure]
    net_delta: dict[str, float]
    total_usd: float
    total_share: float
    units_usd: dict[str, float]
    units_share: dict[str, float]
    holdings: Holdings

    def snapshot_fields(self) -> dict[str, object]:
        return {
            "share_class": self.share_class,
            "exposures": self.exposures,
            "net_delta": self.net_delta,
            "total_usd": self.total_usd,
            "total_share": self.total_share,
        }


def value_book(
    positions: Mapping[str, float], prices: PriceBook, share_class: str, previous: Valuation | None = None
) -> Valuation:
    """Value ``positions`` at the book's current prices; raises a PriceError when a price is unusable.

    Keys are taken in sorted order and the totals summed left to right from 0.0 in that order: the
    same floats as ``share_units`` / ``book_value`` / ``ordered_sum`` give (the PnL ledger's figures).

    ``previous``: a valuation of the same positions, whose holdings are reused when they still hold
    (no delta valued at an LST rate, no new LST since): only the unit values are looked up again."""
    held = previous.holdings if previous is not None else None
    keys = held.keys if held is not None else sorted(positions)
    units_usd = prices.units_usd(keys)
    if share_class in NUMERAIRES:
        units_share = units_usd
    else:  # the same division as share_units(prices, keys, share_class), without a second lookup
        share = prices.share_price(share_class)
        units_share = {k: u / share for k, u in units_usd.items()}
    if held is None or held.lst_generation != prices.lst_generation:
        held = holdings(positions, prices)
    exposures: dict[str, Exposure] = {}
    total_usd = 0.0
    total_share = 0.0
    for k, q, asset, delta in held.rows:
        value_usd = q * units_usd[k]
        value_share = q * units_share[k]
        exposures[k] = Exposure(
            quantity=q, asset=asset, value_usd=value_usd, value_share=value_share, delta=delta
        )
        total_usd += value_usd
        total_share += value_share
    return Valuation(
        share_class=share_class,
        exposures=exposures,
        net_delta=dict(held.net_delta),
        total_usd=total_usd,
        total_share=total_share,
        units_usd=units_usd,
        units_share=units_share,
        holdings=held,
    )


class Exposures:
    """The latest positions and their valuation; decides when a clock tick needs a revaluation."""

    __slots__ = ("_dirty", "_valued_version", "last", "positions", "prices", "share_class")

    def __init__(self, prices: PriceBook | None = None, share_class: str = "USDT") -> None:
        self.prices = prices if prices is not None else PriceBook()
        self.share_class = share_class
        self.positions: dict[str, float] = {}
        self.last: Valuation | None = None
        self._valued_version = -1
        self._dirty = False
        """True when the positions changed since the last valuation (``last`` values older ones)."""

    def on_positions(self, positions: Mapping[str, float]) -> Valuation:
        """New positions: always revalued (raises a PriceError when a price is unusable)."""
        self.positions = dict(sorted(positions.items()))
        self._dirty = True
        return self._value()

    def on_clock(self, ts: int) -> Valuation | None:
        """The clock ticked: a new valuation when positions changed since the last valuation or a unit
        value in use moved; None otherwise (no price is even looked up when no series changed)."""
        self.prices.advance(ts)
        dirty = self._dirty
        if not dirty and (not self.positions or self.prices.version == self._valued_version):
            return None
        previous = self.last
        valuation = self._value()
        if (
            not dirty
            and previous is not None
            and valuation.units_usd == previous.units_usd
            and valuation.units_share == previous.units_share
        ):
            return None
        return valuation

    def _value(self) -> Valuation:
        previous = None if self._dirty else self.last
        valuation = value_book(self.positions, self.prices, self.share_class, previous)
        self.last = valuation
        self._valued_version = self.prices.version
        self._dirty = False
        return valuation


class ExposureMonitor(Component):
    """Publishes an ExposureSnapshot after each PositionSnapshot and on clock ticks that move prices."""

    name = "exposure-monitor"

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        share_class: str = "USDT",
        prices: PriceBook | None = None,
    ) -> None:
        super().__init__(bus, clock, ids)
        self.exposures = Exposures(prices, share_class)

    async def on_start(self) -> None:
        await follow_prices(self.bus, self.exposures.prices)
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))
        await self.bus.subscribe(
            subjects.evt("positions", "snapshot"), self.on_positions, types=(PositionSnapshot,)
        )

    def history(self) -> tuple[str, ...]:
        """The market data (its prices), the position snapshots and its own exposure snapshots."""
        return (
            subjects.pattern(subjects.MD, ">"),
            subjects.evt("positions", "snapshot"),
            subjects.evt("exposure", "snapshot"),
        )

    async def on_positions(self, message: PositionSnapshot) -> None:
        valuation = self.exposures.on_positions(message.positions)
        await self.emit(self._snapshot(valuation, message, message.through))

    def on_clock(self, message: ClockTicked) -> Awaitable[None] | None:
        """A snapshot when the valuation changed, returned for the bus to await; None (no coroutine) on the
        ticks that change nothing."""
        valuation = self.exposures.on_clock(message.ts)
        if valuation is None:
            return None
        return self.emit(self._snapshot(valuation, message, ""))

    def _snapshot(self, valuation: Valuation, cause: Message, through: str) -> ExposureSnapshot:
        """``self.make(ExposureSnapshot, cause=cause, **valuation.snapshot_fields())``, built directly."""
        return ExposureSnapshot(
            id=self.ids.next_id(),
            ts=self.clock.now_ns(),
            causation_id=cause.id,
            correlation_id=cause.correlation_id or cause.id,
            share_class=valuation.share_class,
            exposures=valuation.exposures,
            net_delta=valuation.net_delta,
            total_usd=valuation.total_usd,
            total_share=valuation.total_share,
            through=through,
        )
