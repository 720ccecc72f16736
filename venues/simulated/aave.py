"""Simulated AAVE v3 account: supply, withdraw, borrow and repay on scaled balances.

Balances are kept as AAVE keeps them: ``scaled = amount / index`` at the latest ``ReserveState`` (liquidity
index for aTokens, variable borrow index for debt). Booking (docs/accounting.md):

* supply ``x``: ``wallet:BaseToken:<A> −x``, ``aave_v3:aToken:a<A> +x``, gas;
* withdraw ``x``: ``aToken −x``, ``wallet +x``, gas; borrow ``x``: ``debtToken +x``, ``wallet +x``, gas;
  repay ``x``: ``wallet −x``, ``debtToken −x``, gas (``x`` capped at the debt);
* on each ``ReserveState``: ``Settled(kind="lending_interest", instrument=aToken, amount=scaled × new
  liquidity index − previous balance)`` and ``Settled(kind="borrow_cost", instrument=debtToken, amount=scaled
  debt × new borrow index − previous debt)`` (> 0 as the debt grows).

The wallet side follows the ETH/WETH rule of :mod:`basis.venues.simulated.onchain`: the WETH reserve
(``ETH`` and ``WETH`` both name it) takes and returns ``wallet:BaseToken:ETH``.

Risk: collateral and debt are valued with the AAVE oracle prices (``ReserveState.price_usd`` and
``OraclePrice`` on ``md.price.<venue>.<asset>``, the latest of the two; an ``OraclePrice`` quoted in
another asset, e.g. weETH in ETH, is multiplied by that asset's USD price). Each collateral has a loan to
value (LTV), a liquidation threshold (LT) and a liquidation bonus: the standard parameters, or in
efficiency mode (``emode=True``, or a ``SetEMode`` instruction for ``emode_category``) the eMode
parameters for the ETH-correlated assets, where only ETH-correlated assets may be borrowed. Borrowing or withdrawing is refused when debt would exceed Σ
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
        if amount >= self.booked:
            self.scaled = self.booked = 0.0
        else:
            self.scaled -= amount / index
            self.booked -= amount

    def accrue(self, index: float) -> float:
        """Move the booked balance to ``scaled × index``; returns the growth."""
        if self.scaled == 0.0:
            return 0.0
        balance = self.scaled * index
        growth = balance - self.booked
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
        self.liquidity_index: dict[str, float] = {}
        self.borrow_index: dict[str, float] = {}
        self.quotes: dict[str, tuple[int, float, str]] = {}
        self.supplied: dict[str, _Position] = {}
        self.debt: dict[str, _Position] = {}

    # --- market data -------------------------------------------------------------------------------

    def on_reserve(self, state: ReserveState) -> list[Accrual]:
        """Apply new indices (and the oracle price); returns the interest credited and the debt growth."""
        asset = state.asset
        self.liquidity_index[asset] = state.liquidity_index
        self.borrow_index[asset] = state.variable_borrow_index
        if state.price_usd > 0.0:
            self._quote(asset, state.ts, state.price_usd, USD)
        out: list[Accrual] = []
        growth = self.supplied[asset].accrue(state.liquidity_index) if asset in self.supplied else 0.0
        if growth:
            out.append(Accrual("lending_interest", keys.a_token(asset, self.venue), growth, asset))
        growth = self.debt[asset].accrue(state.variable_borrow_index) if asset in self.debt else 0.0
        if growth:
            out.append(Accrual("borrow_cost", keys.debt_token(asset, self.venue), growth, asset))
        return out

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
        position = self.supplied.get(reserve_asset(asset))
        return position.booked if position else 0.0

    def debt_balance(self, asset: str) -> float:
        position = self.debt.get(reserve_asset(asset))
        return position.booked if position else 0.0

    def collateral_value(self, weight: str = "") -> float:
        """Σ collateral in USD, weighted by ``"ltv"`` or ``"liquidation_threshold"`` when asked."""
        total = 0.0
        for asset, position in self.supplied.items():
            if position.booked:
                factor = getattr(self.params(asset), weight) if weight else 1.0
                total += position.booked * self.price(asset) * factor
        return total

    def debt_value(self) -> float:
        return sum(p.booked * self.price(a) for a, p in self.debt.items() if p.booked)

    def health_factor(self) -> float:
        debt = self.debt_value()
        return self.collateral_value("liquidation_threshold") / debt if debt else math.inf

    def ltv(self) -> float:
        """Current debt / collateral (0 without debt)."""
        debt = self.debt_value()
        return debt / self.collateral_value() if debt else 0.0

    def _has_debt(self) -> bool:
        return any(p.booked for p in self.debt.values())

    # --- state -------------------------------------------------------------------------------------

    def snapshot(self) -> AccountState:
        """The account's positions and mode as they are now (market data is not part of it)."""

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

    def _index(self, asset: str, table: dict[str, float]) -> float:
        index = table.get(asset)
        if index is None:
            raise NoMarketData(f"no reserve state for {asset} on {self.venue} yet")
        return index

    def supply(self, asset: str, amount: float, gas_eth: float) -> Execution:
        reserve, amount = reserve_asset(asset), positive(amount, "amount")
        index = self._index(reserve, self.liquidity_index)
        self.supplied.setdefault(reserve, _Position()).add(amount, index)
        return self._execution(
            Fill(instrument=wallet_key(asset), delta=-amount),
            Fill(instrument=keys.a_token(reserve, self.venue), delta=amount),
            gas_eth,
        )

    def withdraw(self, asset: str, amount: float, gas_eth: float) -> Execution:
        reserve, amount = reserve_asset(asset), positive(amount, "amount")
        index = self._index(reserve, self.liquidity_index)
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
        index = self._index(reserve, self.borrow_index)
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
            outside = sorted(a for a, p in self.debt.items() if p.booked and a not in self.emode_assets)
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
        index = self._index(reserve, self.borrow_index)
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
            debts = {a: p.booked * self.price(a) for a, p in self.debt.items() if p.booked > 0.0}
            collateral = {a: p.booked * self.price(a) for a, p in self.supplied.items() if p.booked > 0.0}
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
        self.debt[debt_asset].remove(repaid, self.borrow_index[debt_asset])
        self.supplied[coll_asset].remove(seized, self.liquidity_index[coll_asset])
        changes = (
            Fill(instrument=keys.debt_token(debt_asset, self.venue), delta=-repaid, price=debt_price),
            Fill(instrument=keys.a_token(coll_asset, self.venue), delta=-seized, price=coll_price),
        )
        return AaveLiquidation(
            changes=changes, penalty=seized - repaid_value / coll_price, penalty_asset=coll_asset
        )


class SimulatedAave(OnChainGateway):
    """Gateway of a simulated AAVE v3 account: ``cmd.<venue>.{supply,withdraw,borrow,repay}``.

    Consumes ``md.reserve.<venue>.*`` (indices, oracle price), ``md.price.<venue>.*`` (oracle prices),
    ``md.gas.<chain>.gwei`` and ``sys.clock``; publishes fills, ``Settled`` interest / borrow cost and
    ``Liquidated``. Supply and repay are refused when the wallet cannot fund them.
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
        check_wallet_balance: bool = True,
        name: str = "",
    ) -> None:
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

    def snapshot(self) -> AccountState:
        return self.account.snapshot()

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, AccountState)
        self.account.restore(snapshot)

    async def on_reserve(self, state: ReserveState) -> None:
        await self._evaluate_before(state)
        for accrual in self.account.on_reserve(state):
            await self.emit(
                self.make(
                    Settled,
                    cause=state,
                    venue=self.venue,
                    instrument=accrual.instrument,
                    kind=accrual.kind,
                    amount=accrual.amount,
                    asset=accrual.asset,
                )
            )
        self._unchecked_ts = state.ts

    async def on_oracle(self, price: OraclePrice) -> None:
        await self._evaluate_before(price)
        self.account.on_oracle(price)
        self._unchecked_ts = price.ts

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """The liquidation check after updates (a coroutine for the bus to await only then)."""
        if self._unchecked_ts is not None and tick.ts >= self._unchecked_ts:
            return self.evaluate(tick)
        return None

    async def _evaluate_before(self, message: Message) -> None:
        if self._unchecked_ts is not None and message.ts > self._unchecked_ts:
            await self.evaluate(message)

    async def evaluate(self, cause: Message) -> None:
        """Run the liquidation check on the state as it is now."""
        self._unchecked_ts = None
        liquidation = self.account.check_liquidation()
        if liquidation is not None:
            await self.liquidated(cause, liquidation.changes, liquidation.penalty, liquidation.penalty_asset)
