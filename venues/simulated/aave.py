"""Simulated AAVE v3 account: supply, withdraw, borrow and repay on scaled balances.

Balances are kept as AAVE keeps them: ``scaled = amount / index`` with the index of the instruction's own
time (liquidity index for aTokens, variable borrow index for debt), and a balance is ``scaled × index``.
Between two ``ReserveState`` snapshots the indices move as the Pool computes them from the snapshot's
current rates (:class:`Reserve`): ``getNormalizedIncome`` (linear in the liquidity rate) and
``getNormalizedDebt`` (the 3-term binomial expansion of compounding the variable borrow rate per second).
At a snapshot the index from the data replaces the computed one. Booking (docs/accounting.md):

* supply ``x``: ``wallet:BaseToken:<A> −x``, ``aave_v3:aToken:a<A> +x``, gas;
* withdraw ``x``: ``aToken −x``, ``wallet +x``, gas; borrow ``x``: ``debtToken +x``, ``wallet +x``, gas;
  repay ``x``: ``wallet −x``, ``debtToken −x``, gas (``x`` capped at the debt);
* accrual: ``Settled(kind="lending_interest", instrument=aToken, amount=scaled × normalized income now −
  balance booked so far)`` and ``Settled(kind="borrow_cost", instrument=debtToken, amount=scaled debt ×
  normalized debt now − debt booked so far)`` (> 0 as the debt grows). The gateway books it at the first
  ``ClockTicked`` of every ``accrual_interval_s`` (hourly by default, on the multiples of the interval
  since the epoch), at every ``ReserveState`` of the reserve (so the snapshot's index wins and the
  difference is interest), and before every instruction it executes (as the Pool's ``updateState``);
  an accrual that changes nothing beyond float dust is not published.

The wallet side follows the ETH/WETH rule of :mod:`basis.venues.simulated.onchain`: the WETH reserve
(``ETH`` and ``WETH`` both name it) takes and returns ``wallet:BaseToken:ETH``.

Risk: collateral and debt are valued with the AAVE oracle prices (``ReserveState.price_usd`` and
``OraclePrice`` on ``md.price.<venue>.<asset>``, the latest of the two; an ``OraclePrice`` quoted in
another asset, e.g. weETH in ETH, is multiplied by that asset's USD price). Each collateral has a loan to
value (LTV), a liquidation threshold (LT) and a liquidation bonus: the standard parameters, or in
efficiency mode (``emode=True``, or a ``SetEMode`` instruction for ``emode_category``) the eMode
parameters for the ETH-correlated assets, where only ETH-correlated assets may be borrowed. Balances at risk
are the accrued ones (``scaled × index now``). Borrowing or withdrawing is refused when debt would exceed Σ
collateral × LTV. Health factor = Σ collateral × LT / debt. When it falls below 1 a liquidator repays
``close_factor`` of the largest debt and seizes collateral (the largest) worth the repaid value × (1 +
bonus). Liquidation is evaluated once every price of a timestamp has been applied: at the first
``ClockTicked`` at or after the last update, or the first reserve/oracle update with a later timestamp;
one liquidation call per evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass

from basis.bus import instruments as keys
from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    Action,
    Borrow,
    ClockTicked,
    Fill,
    Message,
    OraclePrice,
    Repay,
    ReserveState,
    SetEMode,
    Settled,
    SettlementKind,
    Supply,
    Withdraw,
)

from ..errors import (
    EModeViolation,
    ExceedsLtv,
    InsufficientBalance,
    InvalidQuantity,
    NoMarketData,
    NoPrice,
)
from ..gateway import Execution
from .ledger import EPS, Balances, positive
from .onchain import GasMeter, OnChainGateway, wallet_key

USD = "USD"
_RESERVE_ALIASES = {"ETH": "WETH"}


def reserve_asset(asset: str) -> str:
    """The AAVE reserve of ``asset`` (native ETH is supplied to the WETH reserve)."""
    return _RESERVE_ALIASES.get(asset, asset)


@dataclass(frozen=True, slots=True)
class RiskParams:
    """Collateral parameters of one reserve, fractions."""

    ltv: float
    liquidation_threshold: float
    liquidation_bonus: float


STANDARD = RiskParams(ltv=0.80, liquidation_threshold=0.85, liquidation_bonus=0.05)
EMODE_ETH = RiskParams(ltv=0.93, liquidation_threshold=0.95, liquidation_bonus=0.01)
ETH_CORRELATED: frozenset[str] = frozenset({"WETH", "weETH", "wstETH"})

DEFAULT_GAS: dict[str, int] = {
    "supply": 220_000,
    "withdraw": 250_000,
    "borrow": 300_000,
    "repay": 230_000,
    "set_emode": 60_000,
}
EMODE_ETH_CATEGORY = 1
"""AAVE v3 Ethereum's eMode category id of the ETH-correlated assets."""

SECONDS_PER_YEAR = 365 * 86_400
"""``MathUtils.SECONDS_PER_YEAR`` (leap years ignored)."""
NS_PER_S = 1_000_000_000
DUST = 1e-12
"""Relative size of an accrual too small to publish (float rounding of ``scaled × index``)."""


def calculate_linear_interest(rate: float, seconds: int) -> float:
    """``MathUtils.calculateLinearInterest``: ``1 + rate × Δt / SECONDS_PER_YEAR`` (``rate`` an APR fraction)."""
    return 1.0 + rate * seconds / SECONDS_PER_YEAR


def calculate_compounded_interest(rate: float, seconds: int) -> float:
    """``MathUtils.calculateCompoundedInterest``: ``(1 + rate / SECONDS_PER_YEAR) ^ Δt`` by its binomial
    expansion to the third term, ``1 + n·x + n(n−1)/2·x² + n(n−1)(n−2)/6·x³`` with ``n = Δt`` in seconds
    and ``x = rate / SECONDS_PER_YEAR`` (slightly under the exact power, as on chain)."""
    if seconds <= 0:
        return 1.0
    x = rate / SECONDS_PER_YEAR
    n = seconds
    second = n * (n - 1) * x * x / 2.0
    third = n * (n - 1) * max(n - 2, 0) * x * x * x / 6.0
    return 1.0 + n * x + second + third


@dataclass(frozen=True, slots=True)
class Reserve:
    """One reserve as of its latest snapshot: indices at ``ts`` and the rates in force from then on.

    Indices are floats (ray / 1e27), rates APR fractions (ray / 1e27: 0.05 is 5 % a year), as
    :class:`~basis.bus.messages.ReserveState` carries them.
    """

    ts: int
    liquidity_index: float
    variable_borrow_index: float
    liquidity_rate: float
    variable_borrow_rate: float

    @classmethod
    def of(cls, state: ReserveState) -> Reserve:
        return cls(
            state.ts,
            state.liquidity_index,
            state.variable_borrow_index,
            state.liquidity_rate,
            state.variable_borrow_rate,
        )

    def elapsed(self, now: int) -> int:
        """Whole seconds from the snapshot to ``now`` (block timestamps are whole seconds; never < 0)."""
        return max(0, (now - self.ts) // NS_PER_S)

    def normalized_income(self, now: int) -> float:
        """``ReserveLogic.getNormalizedIncome``: liquidity index × ``calculateLinearInterest``."""
        seconds = self.elapsed(now)
        if seconds == 0:
            return self.liquidity_index
        return calculate_linear_interest(self.liquidity_rate, seconds) * self.liquidity_index

    def normalized_debt(self, now: int) -> float:
        """``ReserveLogic.getNormalizedDebt``: variable borrow index × ``calculateCompoundedInterest``."""
        seconds = self.elapsed(now)
        if seconds == 0:
            return self.variable_borrow_index
        return calculate_compounded_interest(self.variable_borrow_rate, seconds) * self.variable_borrow_index


@dataclass(frozen=True, slots=True)
class Accrual:
    kind: SettlementKind
    instrument: str
    amount: float
    asset: str


@dataclass(frozen=True, slots=True)
class AaveLiquidation:
    changes: tuple[Fill, ...]
    penalty: float
    penalty_asset: str


@dataclass(frozen=True, slots=True)
class AccountState:
    """What :meth:`AaveAccount.snapshot` saves: eMode, and (scaled, booked) of each position."""

    emode: bool
    supplied: dict[str, tuple[float, float]]
    debt: dict[str, tuple[float, float]]


class _Position:
    """Scaled balance of one side of one reserve, and the balance booked so far (Σ changes)."""

    __slots__ = ("booked", "scaled")

    def __init__(self) -> None:
        self.scaled = 0.0
        self.booked = 0.0

    def add(self, amount: float, index: float) -> None:
        self.scaled += amount / index
        self.booked += amount

    def remove(self, amount: float, index: float) -> None:
        """Take ``amount`` out at ``index``; at or above the balance (``scaled × index``) it empties the
        position (interest not booked yet stays owed to the book: :meth:`accrue` books it)."""
        booked = self.booked - amount
        if amount >= self.scaled * index:
            self.scaled = 0.0
            if abs(booked) <= DUST * amount:
                booked = 0.0
        else:
            self.scaled -= amount / index
        self.booked = booked

    def accrue(self, index: float) -> float:
        """Move the booked balance to ``scaled × index``; returns the growth (0.0 for float dust, left
        unbooked)."""
        balance = self.scaled * index
        growth = balance - self.booked
        if abs(growth) <= DUST * abs(balance) or growth == 0.0:
            return 0.0
        self.booked = balance
        return growth


class AaveAccount:
    """The state of one AAVE v3 account. No I/O."""

    def __init__(
        self,
        venue: str = "aave_v3",
        *,
        standard: RiskParams = STANDARD,
        risk: Mapping[str, RiskParams] | None = None,
        emode: bool = False,
        emode_risk: RiskParams = EMODE_ETH,
        emode_assets: Iterable[str] = ETH_CORRELATED,
        emode_category: int = EMODE_ETH_CATEGORY,
        close_factor: float = 0.5,
    ) -> None:
        self.venue = venue
        self.emode_category = emode_category
        self.standard = standard
        self.risk = dict(risk or {})
        self.emode = emode
        self.emode_risk = emode_risk
        self.emode_assets = frozenset(emode_assets)
        self.close_factor = close_factor
        self.reserves: dict[str, Reserve] = {}
        self.now = 0
        """The time balances are valued at (ns): the latest clock tick, reserve state or instruction."""
        self.quotes: dict[str, tuple[int, float, str]] = {}
        self.supplied: dict[str, _Position] = {}
        self.debt: dict[str, _Position] = {}

    # --- market data -------------------------------------------------------------------------------

    def advance(self, now: int) -> None:
        """Value balances at ``now`` from here on (time never goes back)."""
        if now > self.now:
            self.now = now

    def on_reserve(self, state: ReserveState) -> list[Accrual]:
        """Apply a snapshot (indices, rates, oracle price); returns the reserve's accrual up to now with the
        snapshot's indices, which replace the ones computed since the previous snapshot."""
        asset = state.asset
        self.reserves[asset] = Reserve.of(state)
        self.advance(state.ts)
        if state.price_usd > 0.0:
            self._quote(asset, state.ts, state.price_usd, USD)
        return self._accrue(asset)

    def accrue(self) -> list[Accrual]:
        """Book every position up to now: the interest credited and the debt growth since last booked."""
        out: list[Accrual] = []
        for asset in self.reserves:
            if asset in self.supplied or asset in self.debt:
                out += self._accrue(asset)
        return out

    def _accrue(self, asset: str) -> list[Accrual]:
        out: list[Accrual] = []
        supplied, debt = self.supplied.get(asset), self.debt.get(asset)
        if supplied is not None:
            growth = supplied.accrue(self.income(asset))
            if growth:
                out.append(Accrual("lending_interest", keys.a_token(asset, self.venue), growth, asset))
        if debt is not None:
            growth = debt.accrue(self.debt_index(asset))
            if growth:
                out.append(Accrual("borrow_cost", keys.debt_token(asset, self.venue), growth, asset))
        return out

    def income(self, asset: str) -> float:
        """The reserve's normalized income (liquidity index) now."""
        return self._reserve(asset).normalized_income(self.now)

    def debt_index(self, asset: str) -> float:
        """The reserve's normalized variable debt (variable borrow index) now."""
        return self._reserve(asset).normalized_debt(self.now)

    def _reserve(self, asset: str) -> Reserve:
        reserve = self.reserves.get(asset)
        if reserve is None:
            raise NoMarketData(f"no reserve state for {asset} on {self.venue} yet")
        return reserve

    def on_oracle(self, price: OraclePrice) -> None:
        self._quote(reserve_asset(price.asset), price.ts, price.price, price.quote)

    def _quote(self, asset: str, ts: int, price: float, quote: str) -> None:
        current = self.quotes.get(asset)
        if current is None or ts >= current[0]:
            self.quotes[asset] = (ts, price, quote)

    def price(self, asset: str, _seen: frozenset[str] = frozenset()) -> float:
        """Oracle price of ``asset`` in USD."""
        quote = self.quotes.get(asset)
        if quote is None or asset in _seen:
            raise NoPrice(f"no oracle price for {asset}")
        _, price, unit = quote
        if unit in (USD, "USDT"):
            return price
        return price * self.price(reserve_asset(unit), _seen | {asset})

    # --- valuation ---------------------------------------------------------------------------------

    def params(self, asset: str) -> RiskParams:
        if self.emode and asset in self.emode_assets:
            return self.emode_risk
        return self.risk.get(asset, self.standard)

    def supply_balance(self, asset: str) -> float:
        """The aToken balance now: scaled × normalized income."""
        reserve = reserve_asset(asset)
        position = self.supplied.get(reserve)
        return position.scaled * self.income(reserve) if position and position.scaled else 0.0

    def debt_balance(self, asset: str) -> float:
        """The variable debt now: scaled × normalized debt."""
        reserve = reserve_asset(asset)
        position = self.debt.get(reserve)
        return position.scaled * self.debt_index(reserve) if position and position.scaled else 0.0

    def supplies(self) -> dict[str, float]:
        """Every supply balance now, by reserve."""
        return {a: p.scaled * self.income(a) for a, p in self.supplied.items() if p.scaled}

    def debts(self) -> dict[str, float]:
        """Every debt now, by reserve."""
        return {a: p.scaled * self.debt_index(a) for a, p in self.debt.items() if p.scaled}

    def collateral_value(self, weight: str = "") -> float:
        """Σ collateral in USD, weighted by ``"ltv"`` or ``"liquidation_threshold"`` when asked."""
        total = 0.0
        for asset, balance in self.supplies().items():
            factor = getattr(self.params(asset), weight) if weight else 1.0
            total += balance * self.price(asset) * factor
        return total

    def debt_value(self) -> float:
        return sum(balance * self.price(a) for a, balance in self.debts().items())

    def health_factor(self) -> float:
        debt = self.debt_value()
        return self.collateral_value("liquidation_threshold") / debt if debt else math.inf

    def ltv(self) -> float:
        """Current debt / collateral (0 without debt)."""
        debt = self.debt_value()
        return debt / self.collateral_value() if debt else 0.0

    def _has_debt(self) -> bool:
        return any(p.scaled for p in self.debt.values())

    # --- state -------------------------------------------------------------------------------------

    def snapshot(self) -> AccountState:
        """The account's positions and mode as they are now (market data and time are not part of it)."""

        def sides(table: dict[str, _Position]) -> dict[str, tuple[float, float]]:
            return {asset: (p.scaled, p.booked) for asset, p in table.items()}

        return AccountState(self.emode, sides(self.supplied), sides(self.debt))

    def restore(self, state: AccountState) -> None:
        def positions(saved: dict[str, tuple[float, float]]) -> dict[str, _Position]:
            out: dict[str, _Position] = {}
            for asset, (scaled, booked) in saved.items():
                position = out[asset] = _Position()
                position.scaled, position.booked = scaled, booked
            return out

        self.emode = state.emode
        self.supplied = positions(state.supplied)
        self.debt = positions(state.debt)

    # --- instructions ------------------------------------------------------------------------------

    def supply(self, asset: str, amount: float, gas_eth: float) -> Execution:
        reserve, amount = reserve_asset(asset), positive(amount, "amount")
        index = self.income(reserve)
        self.supplied.setdefault(reserve, _Position()).add(amount, index)
        return self._execution(
            Fill(instrument=wallet_key(asset), delta=-amount),
            Fill(instrument=keys.a_token(reserve, self.venue), delta=amount),
            gas_eth,
        )

    def withdraw(self, asset: str, amount: float, gas_eth: float) -> Execution:
        reserve, amount = reserve_asset(asset), positive(amount, "amount")
        index = self.income(reserve)
        balance = self.supply_balance(reserve)
        if amount > balance * (1.0 + EPS):
            raise InsufficientBalance(f"withdraw {amount:g} {reserve}: supplied {balance:g}")
        amount = min(amount, balance)
        if self._has_debt():
            allowed = self.collateral_value("ltv") - amount * self.price(reserve) * self.params(reserve).ltv
            if self.debt_value() > allowed:
                raise ExceedsLtv(f"withdrawing {amount:g} {reserve} leaves debt above the LTV limit")
        self.supplied[reserve].remove(amount, index)
        return self._execution(
            Fill(instrument=keys.a_token(reserve, self.venue), delta=-amount),
            Fill(instrument=wallet_key(asset), delta=amount),
            gas_eth,
        )

    def borrow(self, asset: str, amount: float, gas_eth: float) -> Execution:
        reserve, amount = reserve_asset(asset), positive(amount, "amount")
        index = self.debt_index(reserve)
        if self.emode and reserve not in self.emode_assets:
            raise EModeViolation(f"{reserve} cannot be borrowed in efficiency mode")
        debt_after = self.debt_value() + amount * self.price(reserve)
        limit = self.collateral_value("ltv")
        if debt_after > limit:
            raise ExceedsLtv(f"borrow {amount:g} {reserve}: debt {debt_after:g} USD > limit {limit:g} USD")
        self.debt.setdefault(reserve, _Position()).add(amount, index)
        return self._execution(
            Fill(instrument=keys.debt_token(reserve, self.venue), delta=amount),
            Fill(instrument=wallet_key(asset), delta=amount),
            gas_eth,
        )

    def set_emode(self, category: int, gas_eth: float) -> Execution:
        """Enter eMode ``category`` (the pool's one category of ETH-correlated assets) or leave it (0), as
        the Pool's ``setUserEMode`` does: every asset borrowed must belong to the category entered, and
        the health factor must stay at or above 1 with the parameters of the new mode."""
        if category not in (0, self.emode_category):
            raise EModeViolation(
                f"no eMode category {category} on {self.venue} (it has {self.emode_category})"
            )
        enter = category != 0
        if enter:
            outside = sorted(a for a, p in self.debt.items() if p.scaled and a not in self.emode_assets)
            if outside:
                raise EModeViolation(f"{', '.join(outside)} borrowed: outside eMode category {category}")
        previous, self.emode = self.emode, enter
        if self._has_debt() and self.health_factor() < 1.0:
            self.emode = previous
            raise EModeViolation(f"health factor below 1 in {'eMode' if enter else 'the standard mode'}")
        return Execution(changes=(GasMeter.change(gas_eth),), gas_eth=gas_eth)

    def repay_amount(self, asset: str, amount: float) -> float:
        """What a repay of ``amount`` actually repays (at most the debt)."""
        amount = positive(amount, "amount")
        debt = self.debt_balance(asset)
        if debt <= 0.0:
            raise InvalidQuantity(f"no {reserve_asset(asset)} debt to repay")
        return min(amount, debt)

    def repay(self, asset: str, amount: float, gas_eth: float) -> Execution:
        reserve = reserve_asset(asset)
        amount = self.repay_amount(asset, amount)
        index = self.debt_index(reserve)
        self.debt[reserve].remove(amount, index)
        return self._execution(
            Fill(instrument=wallet_key(asset), delta=-amount),
            Fill(instrument=keys.debt_token(reserve, self.venue), delta=-amount),
            gas_eth,
        )

    @staticmethod
    def _execution(first: Fill, second: Fill, gas_eth: float) -> Execution:
        return Execution(changes=(first, second, GasMeter.change(gas_eth)), gas_eth=gas_eth)

    # --- liquidation -------------------------------------------------------------------------------

    def check_liquidation(self) -> AaveLiquidation | None:
        """One liquidation call when the health factor is below 1 (None otherwise or without prices)."""
        if not self._has_debt():
            return None
        try:
            if self.health_factor() >= 1.0:
                return None
            debts = {a: balance * self.price(a) for a, balance in self.debts().items() if balance > 0.0}
            collateral = {
                a: balance * self.price(a) for a, balance in self.supplies().items() if balance > 0.0
            }
        except NoPrice:
            return None
        if not collateral:
            return None
        debt_asset = max(debts, key=lambda a: debts[a])
        coll_asset = max(collateral, key=lambda a: collateral[a])
        debt_price, coll_price = self.price(debt_asset), self.price(coll_asset)
        bonus = self.params(coll_asset).liquidation_bonus
        repaid_value = self.close_factor * debts[debt_asset]
        seized_value = repaid_value * (1.0 + bonus)
        if seized_value > collateral[coll_asset]:
            seized_value = collateral[coll_asset]
            repaid_value = seized_value / (1.0 + bonus)
        repaid = repaid_value / debt_price
        seized = seized_value / coll_price
        self.debt[debt_asset].remove(repaid, self.debt_index(debt_asset))
        self.supplied[coll_asset].remove(seized, self.income(coll_asset))
        changes = (
            Fill(instrument=keys.debt_token(debt_asset, self.venue), delta=-repaid, price=debt_price),
            Fill(instrument=keys.a_token(coll_asset, self.venue), delta=-seized, price=coll_price),
        )
        return AaveLiquidation(
            changes=changes, penalty=seized - repaid_value / coll_price, penalty_asset=coll_asset
        )


class SimulatedAave(OnChainGateway):
    """Gateway of a simulated AAVE v3 account: ``cmd.<venue>.{supply,withdraw,borrow,repay}``.

    Consumes ``md.reserve.<venue>.*`` (indices, rates, oracle price), ``md.price.<venue>.*`` (oracle
    prices), ``md.gas.<chain>.gwei`` and ``sys.clock``; publishes fills, ``Settled`` interest / borrow cost
    and ``Liquidated``. Supply and repay are refused when the wallet cannot fund them. Accrual is booked
    at the first tick of every ``accrual_interval_s`` (0: at every tick), at each reserve snapshot and
    before each instruction (module docstring).
    """

    default_gas = DEFAULT_GAS

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        venue: str = "aave_v3",
        gas_units: Mapping[str, int] | None = None,
        chain: str = "ethereum",
        gas_price_gwei: float | None = None,
        standard: RiskParams = STANDARD,
        risk: Mapping[str, RiskParams] | None = None,
        emode: bool = False,
        emode_risk: RiskParams = EMODE_ETH,
        emode_assets: Iterable[str] = ETH_CORRELATED,
        emode_category: int = EMODE_ETH_CATEGORY,
        close_factor: float = 0.5,
        accrual_interval_s: float = 3_600.0,
        check_wallet_balance: bool = True,
        name: str = "",
    ) -> None:
        if not (math.isfinite(accrual_interval_s) and accrual_interval_s >= 0.0):
            raise ValueError(f"accrual_interval_s must be >= 0, got {accrual_interval_s}")
        super().__init__(
            bus,
            clock,
            ids,
            venue=venue,
            gas_units=gas_units,
            chain=chain,
            gas_price_gwei=gas_price_gwei,
            check_wallet_balance=check_wallet_balance,
            name=name,
        )
        self.account = AaveAccount(
            venue,
            standard=standard,
            risk=risk,
            emode=emode,
            emode_risk=emode_risk,
            emode_assets=emode_assets,
            emode_category=emode_category,
            close_factor=close_factor,
        )
        self._unchecked_ts: int | None = None
        self._accrual_ns = max(1, round(accrual_interval_s * NS_PER_S))
        self._accrual_period = -1
        """The last accrual period (``ts // interval``) booked on a tick."""

    async def on_start_venue(self) -> None:
        await self.bus.subscribe(
            subjects.pattern(subjects.MD, "reserve", self.venue, "*"), self.on_reserve, types=(ReserveState,)
        )
        await self.bus.subscribe(
            subjects.pattern(subjects.MD, "price", self.venue, "*"), self.on_oracle, types=(OraclePrice,)
        )
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    def balances(self) -> dict[str, float]:
        out = {keys.a_token(a, self.venue): p.booked for a, p in self.account.supplied.items() if p.booked}
        out |= {keys.debt_token(a, self.venue): p.booked for a, p in self.account.debt.items() if p.booked}
        return dict(sorted(out.items()))

    def perform(self, action: Action, wallet: Balances) -> Execution:
        account = self.account
        account.advance(self.clock.now_ns())
        match action:
            case Supply(asset=asset, amount=amount):
                self.require_wallet(asset, positive(amount, "amount"), wallet)
                return account.supply(asset, amount, self.gas_cost("supply"))
            case Withdraw(asset=asset, amount=amount):
                return account.withdraw(asset, amount, self.gas_cost("withdraw"))
            case Borrow(asset=asset, amount=amount):
                return account.borrow(asset, amount, self.gas_cost("borrow"))
            case Repay(asset=asset, amount=amount):
                self.require_wallet(asset, account.repay_amount(asset, amount), wallet)
                return account.repay(asset, amount, self.gas_cost("repay"))
            case SetEMode(category=category):
                return account.set_emode(category, self.gas_cost("set_emode"))
        return super().perform(action, wallet)

    async def prepare(self, cause: Message) -> None:
        """Book the accrual up to now, so an action is carried out at the indices of now on balances that
        hold every interest booked (alone or as a step of a bundle)."""
        self.account.advance(self.clock.now_ns())
        await self._publish(cause, self.account.accrue())

    def snapshot(self) -> AccountState:
        return self.account.snapshot()

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, AccountState)
        self.account.restore(snapshot)

    async def on_reserve(self, state: ReserveState) -> None:
        await self._evaluate_before(state)
        await self._publish(state, self.account.on_reserve(state))
        self._unchecked_ts = state.ts

    async def _publish(self, cause: Message, accruals: list[Accrual]) -> None:
        for accrual in accruals:
            await self.emit(
                self.make(
                    Settled,
                    cause=cause,
                    venue=self.venue,
                    instrument=accrual.instrument,
                    kind=accrual.kind,
                    amount=accrual.amount,
                    asset=accrual.asset,
                )
            )

    async def on_oracle(self, price: OraclePrice) -> None:
        await self._evaluate_before(price)
        self.account.on_oracle(price)
        self._unchecked_ts = price.ts

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """The accrual of a new period and the liquidation check after updates (a coroutine for the bus
        to await only then)."""
        period = tick.ts // self._accrual_ns
        accrue = period > self._accrual_period
        if accrue:
            self._accrual_period = period
        check = self._unchecked_ts is not None and tick.ts >= self._unchecked_ts
        if (accrue and (self.account.supplied or self.account.debt)) or check:
            return self._on_tick(tick, accrue, check)
        return None

    async def _on_tick(self, tick: ClockTicked, accrue: bool, check: bool) -> None:
        self.account.advance(tick.ts)
        if accrue:
            accruals = self.account.accrue()
            await self._publish(tick, accruals)
            check = check or any(a.kind == "borrow_cost" for a in accruals)  # the health factor fell
        if check:
            await self.evaluate(tick)

    async def _evaluate_before(self, message: Message) -> None:
        if self._unchecked_ts is not None and message.ts > self._unchecked_ts:
            await self.evaluate(message)

    async def evaluate(self, cause: Message) -> None:
        """Run the liquidation check on the state as it is at ``cause``'s time."""
        self._unchecked_ts = None
        self.account.advance(cause.ts)
        liquidation = self.account.check_liquidation()
        if liquidation is not None:
            await self.liquidated(cause, liquidation.changes, liquidation.penalty, liquidation.penalty_asset)
