"""Simulated centralised exchange (Binance, Bybit, OKX): spot and USDT-margined perpetuals.

Booking follows docs/accounting.md:

* spot: ``<cex>:BaseToken:<BASE> ±q @price`` and ``<cex>:BaseToken:USDT ∓(q × price) − fee`` (one change);
  the taker fee is paid in USDT (quote).
* perp: ``<cex>:Perp:<SYMBOL> Δ @price`` and ``<cex>:PerpNotional:<SYMBOL> −Δ × price``; the taker fee is
  a separate ``<cex>:BaseToken:USDT −fee`` change. When a position is reduced (or flipped) the realised
  PnL against the average entry price is swept from ``PerpNotional`` to ``BaseToken:USDT`` (two changes
  ``PerpNotional −pnl``, ``USDT +pnl``), so that after every fill ``PerpNotional = −contracts × average
  entry price``. The two legs together are always worth ``contracts × (mark − average entry)``.

Prices: market orders fill at the latest close of the instrument's series ± ``slippage_bps`` against the
taker. Every instrument is marked to its own bar series on this venue unless ``marks`` names another series
(a proxy, e.g. OKX's BTCUSDT perp marked to Binance's). Instruments are bar-subject tokens: ``BTCUSDT`` for
spot, ``BTCUSDT-PERP`` for the perpetual.

Margin (cross, USDT only): equity = USDT + Σ (PerpNotional + contracts × mark); spot holdings other than
USDT are not collateral. An order that raises the gross perp notional needs equity after the fill (fee and
slippage paid) ≥ ``max(initial_margin, maintenance_margin)`` × gross notional after the fill, so an order
can never open straight into liquidation. When a perp mark updates and equity < ``maintenance_margin`` ×
gross notional, every perp position is closed at its mark, realised PnL is swept to USDT and a penalty of
``liquidation_fee`` × gross notional is charged in USDT (capped at the USDT left: the venue's insurance fund
takes the rest).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, replace

from basis.bus import instruments as keys
from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    Bar,
    ClockTicked,
    Fill,
    FundingRate,
    Instruction,
    PerpTrade,
    Settled,
    SpotTrade,
    Transfer,
    TransferCompleted,
)

from ..errors import (
    InsufficientMargin,
    InvalidQuantity,
    NoPrice,
    ReduceOnlyViolation,
    UnknownDestination,
    UnknownInstrument,
    UnsupportedInstruction,
)
from ..gateway import Execution, GatewayComponent
from .ledger import Balances, covers, positive
from .onchain import WALLET, wallet_key
from .pending import Arrival, Arrivals, seconds_to_ns
from .prices import PriceHistory, Series, parse_instrument, perp_instrument

BPS = 1e-4


@dataclass(frozen=True, slots=True)
class Liquidation:
    changes: tuple[Fill, ...]
    penalty: float


class CexAccount:
    """The state of one account at a simulated CEX: balances, prices, fills, funding, margin. No I/O."""

    def __init__(
        self,
        venue: str,
        *,
        instruments: Iterable[str],
        marks: Mapping[str, tuple[str, str, str]] | None = None,
        quote: str = "USDT",
        spot_taker_fee: float = 0.001,
        perp_taker_fee: float = 0.0005,
        slippage_bps: float = 0.0,
        initial_margin: float = 0.1,
        maintenance_margin: float = 0.05,
        liquidation_fee: float = 0.01,
        history: int = 256,
    ) -> None:
        self.venue = venue
        self.quote = quote
        self.spot_taker_fee = spot_taker_fee
        self.perp_taker_fee = perp_taker_fee
        self.slippage = slippage_bps * BPS
        self.initial_margin = initial_margin
        self.maintenance_margin = maintenance_margin
        self.liquidation_fee = liquidation_fee
        self.balances = Balances()
        self.usdt = keys.token(venue, quote)

        marks = dict(marks or {})
        self.sources: dict[str, Series] = {}
        for instrument in [*instruments, *marks]:
            symbol, market = parse_instrument(instrument)
            if not symbol.endswith(quote) or symbol == quote:
                raise ValueError(f"{venue}: instrument {instrument!r} is not quoted in {quote}")
            source = marks.get(instrument)
            self.sources[instrument] = Series(*source) if source else Series(venue, symbol, market)
        self.followers: dict[Series, list[str]] = {}
        for instrument, series in self.sources.items():
            self.followers.setdefault(series, []).append(instrument)
        self.prices: dict[str, PriceHistory] = {i: PriceHistory(history) for i in self.sources}
        # Looked up on every bar and every margin check: derived once from the instruments.
        self._follow: dict[tuple[str, str, str], tuple[tuple[str, PriceHistory], ...]] = {
            (series.venue, series.symbol, series.market): tuple((i, self.prices[i]) for i in followers)
            for series, followers in self.followers.items()
        }
        self._perps: tuple[tuple[str, str, str, PriceHistory], ...] = tuple(
            (symbol, keys.perp(venue, symbol), keys.perp_notional(venue, symbol), self.prices[instrument])
            for instrument in self.sources
            for symbol, market in (parse_instrument(instrument),)
            if market == "perp"
        )
        """``(symbol, perp key, notional key, mark history)`` of every perpetual, in instrument order."""
        self._marks_perp: dict[tuple[str, str, str], bool] = {
            series: any(parse_instrument(i)[1] == "perp" for i, _ in followers)
            for series, followers in self._follow.items()
        }

    # --- prices ------------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> list[str]:
        """Record a close; returns the instruments it prices."""
        followers = self._follow.get((bar.venue, bar.symbol, bar.market), ())
        for _, history in followers:
            history.add(bar.ts, bar.close)
        return [instrument for instrument, _ in followers]

    def record_bar(self, bar: Bar) -> bool:
        """Record a close (as :meth:`on_bar`); True when it marks a perpetual."""
        where = (bar.venue, bar.symbol, bar.market)
        followers = self._follow.get(where)
        if followers is None:
            return False
        for _, history in followers:
            history.add(bar.ts, bar.close)
        return self._marks_perp[where]

    def price(self, instrument: str) -> float:
        history = self.prices.get(instrument)
        if history is None:
            raise UnknownInstrument(f"{self.venue} does not trade {instrument}")
        price = history.latest
        if price is None:
            raise NoPrice(f"no price for {self.venue} {instrument} yet")
        return price

    def base_of(self, symbol: str) -> str:
        return symbol[: -len(self.quote)]

    # --- margin ------------------------------------------------------------------------------------

    def perp_symbols(self) -> list[str]:
        return [symbol for symbol, _, _, _ in self._perps]

    def contracts(self, symbol: str) -> float:
        return self.balances.get(keys.perp(self.venue, symbol))

    def notional_leg(self, symbol: str) -> float:
        return self.balances.get(keys.perp_notional(self.venue, symbol))

    def open_perps(self) -> list[str]:
        get = self.balances.get
        return [symbol for symbol, perp_key, _, _ in self._perps if get(perp_key) != 0.0]

    def mark(self, symbol: str) -> float:
        return self.price(perp_instrument(symbol))

    def unrealised_pnl(self, symbol: str) -> float:
        """Value of the two perp legs at the mark: ``PerpNotional + contracts × mark``."""
        contracts = self.contracts(symbol)
        return self.notional_leg(symbol) + (contracts * self.mark(symbol) if contracts else 0.0)

    def equity(self) -> float:
        return self.balances.get(self.usdt) + sum(self.unrealised_pnl(s) for s in self.open_perps())

    def gross_notional(self) -> float:
        return sum(abs(self.contracts(s) * self.mark(s)) for s in self.open_perps())

    def _margin_state(self) -> tuple[float, float] | None:
        """``(equity, gross notional)``, or None without an open perp: the same sums as :meth:`equity`
        and :meth:`gross_notional` (same terms, same order), in one pass for the per-bar margin check."""
        get = self.balances.get
        unrealised = 0.0
        gross = 0.0  # the same total as sum()'s int 0 start: None is returned before no term is added
        any_open = False
        for symbol, perp_key, notional_key, history in self._perps:
            contracts = get(perp_key)
            if contracts == 0.0:
                continue
            mark = history.latest
            if mark is None:
                raise NoPrice(f"no price for {self.venue} {perp_instrument(symbol)} yet")
            unrealised += get(notional_key) + contracts * mark
            gross += abs(contracts * mark)
            any_open = True
        if not any_open:
            return None
        return get(self.usdt) + unrealised, gross

    def margin_ratio(self) -> float:
        """Equity / gross perp notional (inf without positions)."""
        gross = self.gross_notional()
        return self.equity() / gross if gross else math.inf

    def _opening_margin(self) -> float:
        return max(self.initial_margin, self.maintenance_margin)

    def _require_margin(self, equity_after: float, gross_after: float) -> None:
        required = self._opening_margin() * gross_after
        if not covers(equity_after, required):
            raise InsufficientMargin(f"{self.venue}: equity {equity_after:g} < initial margin {required:g}")

    # --- instructions ------------------------------------------------------------------------------

    def spot_trade(self, symbol: str, side: str, quantity: float) -> Execution:
        if symbol not in self.sources or parse_instrument(symbol)[1] != "spot":
            raise UnknownInstrument(f"{self.venue} has no spot market {symbol}")
        quantity = positive(quantity)
        base = keys.token(self.venue, self.base_of(symbol))
        if side == "buy":
            price = self.price(symbol) * (1.0 + self.slippage)
            fee = quantity * price * self.spot_taker_fee
            cost = quantity * price + fee
            self.balances.require(self.usdt, cost)
            if self.open_perps():
                self._require_margin(self.equity() - cost, self.gross_notional())
            changes = (
                Fill(instrument=base, delta=quantity, price=price),
                Fill(instrument=self.usdt, delta=-cost),
            )
        else:
            price = self.price(symbol) * (1.0 - self.slippage)
            fee = quantity * price * self.spot_taker_fee
            self.balances.require(base, quantity)
            changes = (
                Fill(instrument=base, delta=-quantity, price=price),
                Fill(instrument=self.usdt, delta=quantity * price - fee),
            )
        self._book(changes)
        return Execution(changes=changes, fee=fee, fee_asset=self.quote)

    def perp_trade(self, symbol: str, side: str, quantity: float, reduce_only: bool = False) -> Execution:
        instrument = perp_instrument(symbol)
        if instrument not in self.sources:
            raise UnknownInstrument(f"{self.venue} has no perpetual {symbol}")
        quantity = positive(quantity)
        mark = self.mark(symbol)
        held = self.contracts(symbol)
        delta = quantity if side == "buy" else -quantity
        reducing = held != 0.0 and (delta > 0) != (held > 0)
        if reduce_only:
            if not reducing:
                raise ReduceOnlyViolation(
                    f"{self.venue} {symbol}: reduce-only order would not reduce {held:g}"
                )
            if abs(delta) > abs(held):
                delta = -held
        after = held + delta
        if reducing and abs(after) <= 1e-12 * abs(held):
            after, delta = 0.0, -held  # float dust: close exactly
        price = mark * (1.0 + self.slippage if delta > 0 else 1.0 - self.slippage)
        fee = abs(delta) * price * self.perp_taker_fee

        gross_before = self.gross_notional()
        gross_after = gross_before - abs(held * mark) + abs(after * mark)
        if gross_after > gross_before * (1.0 + 1e-12):
            self._require_margin(self.equity() + delta * (mark - price) - fee, gross_after)

        perp_key, notional_key = keys.perp(self.venue, symbol), keys.perp_notional(self.venue, symbol)
        notional = self.notional_leg(symbol)
        trade_leg = -delta * price
        changes = [
            Fill(instrument=perp_key, delta=delta, price=price),
            Fill(instrument=notional_key, delta=trade_leg),
        ]
        if reducing:
            if after == 0.0:
                target = 0.0
            elif (after > 0) == (held > 0):
                target = notional * (after / held)  # partial reduction keeps the average entry price
            else:
                target = -after * price  # flipped: the new position opens at this fill's price
            realised = (notional + trade_leg) - target
            if realised != 0.0:
                changes += [
                    Fill(instrument=notional_key, delta=-realised),
                    Fill(instrument=self.usdt, delta=realised),
                ]
        if fee:
            changes.append(Fill(instrument=self.usdt, delta=-fee))
        result = tuple(changes)
        self._book(result)
        return Execution(changes=result, fee=fee, fee_asset=self.quote)

    def withdraw(self, asset: str, amount: float) -> Execution:
        """Debit ``amount`` of ``asset`` for a withdrawal (USDT must stay above the initial margin)."""
        amount = positive(amount, "amount")
        key = keys.token(self.venue, asset)
        self.balances.require(key, amount)
        if key == self.usdt and self.open_perps():
            self._require_margin(self.equity() - amount, self.gross_notional())
        changes = (Fill(instrument=key, delta=-amount),)
        self._book(changes)
        return Execution(changes=changes)

    def deposit(self, changes: tuple[Fill, ...]) -> None:
        """Credit the arrival side of a transfer into this venue."""
        self.balances.apply_changes(changes, f"{self.venue}:")

    # --- periodic ----------------------------------------------------------------------------------

    def funding(self, symbol: str, rate: float, ts: int) -> float | None:
        """Book one funding settlement; returns the USDT amount (None without a position).

        The amount is ``−contracts × mark × rate`` with the mark the latest close at or before ``ts``
        (the latest close when every close seen is later).
        """
        held = self.contracts(symbol)
        if held == 0.0:
            return None
        history = self.prices[perp_instrument(symbol)]
        mark = history.at_or_before(ts)
        if mark is None:
            mark = history.latest
        if mark is None:
            return None
        amount = -held * mark * rate
        self.balances.apply(self.usdt, amount)
        return amount

    def check_liquidation(self) -> Liquidation | None:
        """Liquidate every perp position at its mark when equity < maintenance requirement."""
        state = self._margin_state()
        if state is None:
            return None
        equity, gross = state
        if equity >= self.maintenance_margin * gross:
            return None
        open_perps = self.open_perps()
        changes: list[Fill] = []
        realised = 0.0
        for symbol in open_perps:
            held, mark = self.contracts(symbol), self.mark(symbol)
            notional_key = keys.perp_notional(self.venue, symbol)
            close_leg = held * mark
            remaining = self.notional_leg(symbol) + close_leg
            changes += [
                Fill(instrument=keys.perp(self.venue, symbol), delta=-held, price=mark),
                Fill(instrument=notional_key, delta=close_leg),
                Fill(instrument=notional_key, delta=-remaining),
            ]
            realised += remaining
        changes.append(Fill(instrument=self.usdt, delta=realised))
        penalty = min(self.liquidation_fee * gross, max(self.balances.get(self.usdt) + realised, 0.0))
        if penalty > 0.0:
            changes.append(Fill(instrument=self.usdt, delta=-penalty))
        result = tuple(changes)
        self._book(result)
        return Liquidation(changes=result, penalty=penalty)

    def _book(self, changes: tuple[Fill, ...]) -> None:
        for change in changes:
            self.balances.apply(change.instrument, change.delta)


class SimulatedCex(GatewayComponent):
    """Gateway of a simulated CEX account: ``cmd.<venue>.{spot_trade,perp_trade,transfer}``.

    Withdrawals: ``Transfer(venue=<cex>, source=<cex>, destination=<one of destinations>, asset, amount)``
    debits the balance now (a fill) and, ``withdrawal_delay_s`` of simulated time later (released on the
    first ``ClockTicked`` at or after it), publishes ``TransferCompleted`` crediting ``amount − fee`` to
    ``<destination>:BaseToken:<asset>`` (``wallet:BaseToken:ETH`` for WETH, see
    :mod:`basis.venues.simulated.onchain`). Deposits: a ``TransferCompleted`` whose destination is this
    venue is credited as its changes say.
    """

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        venue: str,
        instruments: Iterable[str],
        marks: Mapping[str, tuple[str, str, str]] | None = None,
        spot_taker_fee: float = 0.001,
        perp_taker_fee: float = 0.0005,
        slippage_bps: float = 0.0,
        initial_margin: float = 0.1,
        maintenance_margin: float = 0.05,
        liquidation_fee: float = 0.01,
        withdrawal_delay_s: float = 0.0,
        withdrawal_fees: Mapping[str, float] | None = None,
        destinations: Iterable[str] = (WALLET,),
        name: str = "",
    ) -> None:
        super().__init__(bus, clock, ids, venue=venue, name=name or f"sim-{venue}")
        self.account = CexAccount(
            venue,
            instruments=instruments,
            marks=marks,
            spot_taker_fee=spot_taker_fee,
            perp_taker_fee=perp_taker_fee,
            slippage_bps=slippage_bps,
            initial_margin=initial_margin,
            maintenance_margin=maintenance_margin,
            liquidation_fee=liquidation_fee,
        )
        self.withdrawal_delay_ns = seconds_to_ns(withdrawal_delay_s)
        self.withdrawal_fees = dict(withdrawal_fees or {})
        self.destinations = frozenset(destinations) - {venue}
        self.arrivals = Arrivals()

    async def on_start_gateway(self) -> None:
        for series in self.account.followers:
            await self.bus.subscribe(series.subject, self.on_bar, types=(Bar,))
        await self.bus.subscribe(
            subjects.pattern(subjects.MD, "funding", self.venue, "*"), self.on_funding, types=(FundingRate,)
        )
        await self.bus.subscribe(
            subjects.evt("transfers", "completed"), self.on_transfer, types=(TransferCompleted,)
        )
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    def balances(self) -> dict[str, float]:
        return self.account.balances.snapshot()

    async def execute(self, instruction: Instruction) -> None:
        match instruction.action:
            case SpotTrade(order_type="market", symbol=symbol, side=side, quantity=quantity):
                await self.fill(instruction, self.account.spot_trade(symbol, side, quantity))
            case PerpTrade(
                order_type="market",
                take_profit=None,
                stop_loss=None,
                symbol=symbol,
                side=side,
                quantity=quantity,
                reduce_only=reduce_only,
            ):
                await self.fill(instruction, self.account.perp_trade(symbol, side, quantity, reduce_only))
            case Transfer() as transfer:
                await self.withdraw(instruction, transfer)
            case SpotTrade() | PerpTrade():
                raise UnsupportedInstruction(
                    f"{self.venue} simulates market orders only (no limit, take-profit or stop-loss)"
                )
            case _:
                raise self.unsupported(instruction)

    async def withdraw(self, instruction: Instruction, transfer: Transfer) -> None:
        if transfer.source != self.venue or transfer.destination not in self.destinations:
            raise UnknownDestination(
                f"{self.venue} cannot send from {transfer.source} to {transfer.destination}"
            )
        fee = self.withdrawal_fees.get(transfer.asset, 0.0)
        if transfer.amount <= fee:
            raise InvalidQuantity(
                f"withdrawal of {transfer.amount:g} {transfer.asset} does not cover the fee {fee:g}"
            )
        execution = self.account.withdraw(transfer.asset, transfer.amount)
        arriving = transfer.amount - fee
        credit = (
            wallet_key(transfer.asset)
            if transfer.destination == WALLET
            else keys.token(transfer.destination, transfer.asset)
        )
        arrival = Arrival(
            due_ns=self.clock.now_ns() + self.withdrawal_delay_ns,
            cause=instruction,
            source=self.venue,
            destination=transfer.destination,
            asset=transfer.asset,
            amount=arriving,
            fee=fee,
            changes=(Fill(instrument=credit, delta=arriving),),
            departed=transfer.amount,
        )
        self.arrivals.add(arrival)
        execution = replace(execution, changes=(*execution.changes, arrival.departure()))
        await self.fill(instruction, execution)
        if self.withdrawal_delay_ns == 0:
            await self.arrivals.release(self, self.clock.now_ns())

    def on_bar(self, bar: Bar) -> Awaitable[None] | None:
        """Record the close; when it marks a perpetual, check the margin. Returns the ``Liquidated``
        publish for the bus to await when the account is liquidated, else None (no coroutine per bar)."""
        account = self.account
        if account.record_bar(bar):
            liquidation = account.check_liquidation()
            if liquidation is not None:
                return self.liquidated(bar, liquidation.changes, liquidation.penalty, account.quote)
        return None

    async def on_funding(self, message: FundingRate) -> None:
        if perp_instrument(message.symbol) not in self.account.sources:
            return
        amount = self.account.funding(message.symbol, message.rate, message.ts)
        if amount is not None:
            await self.emit(
                self.make(
                    Settled,
                    cause=message,
                    venue=self.venue,
                    instrument=self.account.usdt,
                    kind="funding",
                    amount=amount,
                    asset=self.account.quote,
                )
            )

    async def on_transfer(self, message: TransferCompleted) -> None:
        if message.destination == self.venue:
            self.account.deposit(message.changes)

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """Release the arrivals due (a coroutine for the bus to await only when one is)."""
        return self.arrivals.release_due(self, tick.ts)
