"""The basis trade: long the asset spot on one venue, short perps of the same size split across venues.

Target for deployable equity ``E`` (USD), reference price ``P`` and margin buffer ``m``
(:class:`~basis.components.strategy.params.BasisParams`)::

    Q = E / ((1 + m) × P)                         units of the asset
    <spot venue>:BaseToken:<asset>   = Q
    <v>:Perp:<asset><quote>          = −a_v × Q     for every venue v with allocation a_v > 0
    <v>:BaseToken:<quote>            = m × a_v × Q × mark_v − min(0, uPnL_v)
    wallet:BaseToken:<share class>   = withdrawals owed (everything else in the wallet: 0)

so ``Q × P`` buys the spot leg and ``m × Q × P`` is the margin, spread by allocation; each venue's margin
equity (USDT + PerpNotional + contracts × mark) starts at ``m`` × its notional, and an unrealised loss
is topped up (an unrealised gain is not withdrawn). The same target serves the USDT share class
(``btc_basis``: capital arrives as USDT) and the asset's own share class (``eth_basis``: capital arrives
as ETH, part is sold for the USDT margin); equity is counted in the share class either way.

When it trades: on what matters, never on a price move alone. ``Q`` is set (sized) only when

* investor money moved (a deposit booked, a withdrawal owed);
* equity changed by more than ``position_deviation_threshold`` since the last sizing (funding earned, fees
  paid, PnL; in the asset's share class also the USDT margin's value in the asset);
* the margin of the hedge as a whole, Σ (USDT + PerpNotional + contracts × mark) over the venues (plus the
  wallet's free USDT) ÷ Σ |contracts × mark|, leaves the margin band ``[margin_floor, margin_ceiling]``:
  below it the short is too large for its collateral (the price rose), above it collateral lies idle (the
  price fell). The band defaults to ``[(w + m) / 2, m + (m − w)]`` with ``w`` the risk
  ``margin_ratio_warning`` and ``m`` the margin buffer: it holds the buffer a fresh short starts at and
  ends halfway to the warning, so the strategy acts before the risk monitor warns.

Between sizings the legs are held at ``Q`` units whatever the price does (``Q × P`` is no target: a
hedged book's value does not move with the price), and the book is brought back to the target for ``Q``
when

* one venue's margin ratio leaves the band while the whole is inside it (collateral is moved);
* the net delta, (units long − units short) × price ÷ equity, exceeds ``delta_band`` (half the risk
  ``delta_drift_warning``);
* a venue's short is off its ``hedge_allocation`` share of the hedge by more than
  ``position_deviation_threshold`` of equity (the router splits every hedge order by allocation, so this
  is repaired as the hedge is resized);
* any key is further than ``position_deviation_threshold`` × equity from the target for ``Q`` (the steps of
  an entry or of a margin rebalance that wait for funds);
* a sizing is not complete: every decision after a sizing continues it until a plan has nothing to send.

A risk override and a full exit size from the equity at the current price, as before. See
:mod:`.basis_plan` for how orders are sequenced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from basis.bus import instruments
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import AnyAction, Message, StrategyDecided
from basis.components.pricing import PriceBook

from .base import Strategy, Trigger
from .basis_plan import BasisPlanner
from .params import BasisParams, StrategyParams, derive_margin_buffer
from .view import Target, View

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig

_CexKeys = tuple[str, str, str, float, str | None]
"""(perp key, perp notional key, quote key, hedge share, asset key or None) of a CEX venue in
:meth:`BasisStrategy.target`."""
_TargetKeys = tuple[
    tuple[tuple[str, float], ...], tuple[_CexKeys, ...], tuple[tuple[str, str], ...], frozenset[str]
]
"""Everything :meth:`BasisStrategy.target` sets, built once (see :meth:`BasisStrategy._target_keys`)."""


@dataclass(frozen=True)
class Sizing:
    """The size the legs are held at (units of the asset) and the deployable equity (share-class units)
    it was set for."""

    size: float
    equity: float


ADVERSE_MOVE = 0.10
"""Price rise a fresh short survives before its venue reaches the margin warning (sizes the buffer)."""


class BasisStrategy(Strategy[BasisParams]):
    """Spot long + perp short of one asset, USDT margin on each perp venue."""

    params_type: ClassVar[type[StrategyParams]] = BasisParams
    mode: ClassVar[str] = "basis"
    equity_in: ClassVar[Literal["quote", "asset"]] = "quote"
    """What the mode counts equity in: the quote currency (USDT) or the traded asset (ETH)."""

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        params: BasisParams,
        *,
        prices: PriceBook | None = None,
    ) -> None:
        super().__init__(bus, clock, ids, params, prices=prices)
        p = self.params
        expected = p.quote if self.equity_in == "quote" else p.asset
        if p.share_class != expected:
            where = "" if self.equity_in == "quote" else "its asset "
            raise ValueError(
                f"{self.mode} counts equity in {where}{expected}, got share class {p.share_class}"
            )
        self.sizing: Sizing | None = None
        """The size the legs are held at between sizings (None before the first decision)."""
        self.settling = False
        """A sizing whose plan has not yet come back empty."""

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        fields = super().mode_fields(mode)
        warning = mode.risk.margin_ratio_warning
        fields.update(
            asset=mode.asset,
            hedge_allocation=dict(mode.active_hedge_allocation),
            margin_warning=warning,
            margin_buffer=derive_margin_buffer(warning, ADVERSE_MOVE),
            transfer_band=mode.transfer_band,
            delta_band=mode.risk.delta_drift_warning / 2.0,
        )
        if mode.venues.spot is not None:
            fields["spot_venue"] = mode.venues.spot
        return fields

    # --- keys and book readings -------------------------------------------------------------------

    @cached_property
    def spot_key(self) -> str:
        return instruments.token(self.params.spot_venue, self.params.asset)

    @cached_property
    def _perp_keys(self) -> dict[str, tuple[str, str, str]]:
        """venue -> (perp key, perp notional key, quote token key), built once per venue."""
        return {}

    def _venue_keys(self, venue: str) -> tuple[str, str, str]:
        keys = self._perp_keys.get(venue)
        if keys is None:
            symbol = self.params.symbol
            keys = self._perp_keys[venue] = (
                instruments.perp(venue, symbol),
                instruments.perp_notional(venue, symbol),
                instruments.token(venue, self.params.quote),
            )
        return keys

    def perp_key(self, venue: str) -> str:
        return self._venue_keys(venue)[0]

    def mark(self, view: View, venue: str) -> float:
        return view.unit_usd(self._venue_keys(venue)[0])

    def unrealised(self, view: View, venue: str) -> float:
        """PerpNotional + contracts × mark at ``venue`` (0 without a position)."""
        perp_key, notional_key, _ = self._venue_keys(venue)
        return unrealised_usd(view, perp_key, notional_key)

    def hedge_size(self, view: View) -> float:
        """Units of the asset shorted across the hedge venues (positive)."""
        return -sum(view.qty(self.perp_key(v)) for v in self.params.allocation)

    def margin_ratio(self, view: View, venue: str) -> float | None:
        """(USDT + PerpNotional + contracts × mark) / |contracts × mark|; None without a position."""
        perp_key, notional_key, quote_key = self._venue_keys(venue)
        contracts = view.qty(perp_key)
        if not contracts:
            return None
        equity = view.qty(quote_key) + unrealised_usd(view, perp_key, notional_key)
        return equity / abs(contracts * view.unit_usd(perp_key))

    # --- hooks --------------------------------------------------------------------------------------

    def size_for(self, view: View, deployable_usd: float) -> float:
        """``Q``: units of the asset held long (and shorted) when ``deployable_usd`` is invested."""
        return deployable_usd / ((1.0 + self.params.margin_buffer) * view.price(self.params.asset))

    @cached_property
    def _target_keys(self) -> _TargetKeys:
        """What :meth:`target` sets, in its order: the perp key and share of every hedge venue, per CEX
        venue (perp key, perp notional key, quote key, share, asset key or None), the wallet keys with
        their asset, and the legs."""
        p = self.params
        perps = tuple((self.perp_key(venue), share) for venue, share in p.allocation.items())
        cex = tuple(
            (
                *self._venue_keys(venue),
                p.allocation.get(venue, 0.0),
                instruments.token(venue, p.asset) if venue != p.spot_venue else None,
            )
            for venue in p.cex_venues
        )
        assets = dict.fromkeys((p.quote, p.asset))
        wallet = tuple((instruments.token(p.wallet, asset), asset) for asset in assets)
        legs = frozenset({self.spot_key, *(key for key, _ in perps)})
        return perps, cex, wallet, legs

    def target(self, view: View, deployable_usd: float) -> Target:
        return self.target_for_size(view, self.size_for(view, deployable_usd))

    def target_for_size(self, view: View, size: float) -> Target:
        """The target with ``size`` units long and short, margin and cash at the current marks."""
        p = self.params
        perps, cex, wallet, legs = self._target_keys
        positions: dict[str, float] = {self.spot_key: size}
        for perp_key, share in perps:
            positions[perp_key] = -share * size
        for perp_key, notional_key, quote_key, share, asset_key in cex:
            if share:  # margin m × share × Q × mark, plus a cover of the unrealised loss
                margin = p.margin_buffer * share * size * view.unit_usd(perp_key)
                cover = -min(0.0, unrealised_usd(view, perp_key, notional_key))
                positions[quote_key] = margin + cover
            else:
                positions[quote_key] = 0.0
            if asset_key is not None:
                positions[asset_key] = 0.0
        for key, asset in wallet:
            positions[key] = view.withdrawing if asset == p.share_class else 0.0
        return Target(positions=positions, legs=legs)

    def deployed_usd(self, view: View) -> float:
        size = max(view.qty(self.spot_key), self.hedge_size(view))
        return max(0.0, size) * view.price(self.params.asset) * (1.0 + self.params.margin_buffer)

    # --- when to trade ------------------------------------------------------------------------------

    def assess(self, view: View) -> tuple[Target, list[Trigger]]:
        """The target for the size ``Q`` and the reasons to move toward it (see the module docstring)."""
        equity = view.deployable_usd / view.share_price
        sizing = self.investor_triggers(view) + self.sizing_triggers(view, equity)
        if sizing or self.sizing is None:
            self.sizing = Sizing(self.size_for(view, view.deployable_usd), equity)
            self.settling = bool(sizing)
        target = self.target_for_size(view, self.sizing.size)
        found = sizing + self.rebalance_triggers(view) + self.deviation_triggers(view, target)
        if self.settling and not sizing:
            found.append(
                Trigger("sizing", f"completing the sizing to {self.sizing.size:.6g} {self.params.asset}")
            )
        return target, found

    def recall(self, message: Message) -> None:
        """Also the size the legs are held at: the size its last decision on the book aimed for (a risk cut,
        taken at level critical, sizes nothing), sized for the deployable equity of the decision that set
        it; a sizing is settling until a decision holds."""
        super().recall(message)
        if not isinstance(message, StrategyDecided) or message.risk_level == "critical":
            return
        size = self.size_of(message.target)
        if size is None:
            return
        if self.sizing is None or size != self.sizing.size:
            owed = message.withdrawing * (1.0 + self.params.withdrawal_buffer) if message.withdrawing else 0.0
            self.sizing = Sizing(size, max(0.0, (message.equity or 0.0) - owed))
            self.settling = message.action != "hold"
        elif message.action == "hold":
            self.settling = False

    def size_of(self, target: Mapping[str, float]) -> float | None:
        """The size a target of :meth:`target_for_size` is for, from its largest short (None: no short)."""
        perp_key, share = max(self._target_keys[0], key=lambda keyed: keyed[1])
        short = target.get(perp_key)
        return None if short is None or share <= 0.0 else -short / share

    def sizing_triggers(self, view: View, equity: float) -> list[Trigger]:
        """Equity moved past ``position_deviation_threshold`` since the last sizing, or the hedge's margin
        as a whole left its band."""
        found: list[Trigger] = []
        threshold = self.params.position_deviation_threshold
        sized = self.sizing
        if sized is not None and sized.equity > 0.0:
            change = equity / sized.equity - 1.0
            if abs(change) > threshold:
                found.append(
                    Trigger(
                        "equity",
                        f"equity {equity:.6g} {view.share_class} moved {change:+.2%} since sized "
                        f"(> {threshold:.2%})",
                    )
                )
        ratio = self.hedge_margin_ratio(view)
        low, high = self.params.margin_band
        if ratio is not None and not low <= ratio <= high:
            found.append(Trigger("margin", f"hedge margin ratio {ratio:.4f} outside [{low:.4g}, {high:.4g}]"))
        return found

    def deviation_triggers(self, view: View, target: Target) -> list[Trigger]:
        """A leg further from its size than ``position_deviation_threshold`` × equity (cash balances follow
        the marks: the margin band decides when they move)."""
        legs = Target(positions={k: target.get(k) for k in sorted(target.legs)}, legs=target.legs)
        return super().deviation_triggers(view, legs)

    def rebalance_triggers(self, view: View) -> list[Trigger]:
        """A venue's margin outside its band, the net delta outside its band, a hedge split off its
        allocation (each brings the book back to the target of the current size)."""
        p = self.params
        found: list[Trigger] = []
        low = p.margin_band[0]
        for venue in p.allocation:
            ratio = self.margin_ratio(view, venue)
            if ratio is not None and ratio < low:
                found.append(Trigger("margin", f"{venue} margin ratio {ratio:.4f} below {low:.4g}"))
        if view.equity_usd > 0.0:
            price = view.price(p.asset)
            drift = self.net_delta(view) * price / view.equity_usd
            if abs(drift) > p.delta_band:
                found.append(
                    Trigger("delta", f"net delta {drift:+.2%} of equity outside ±{p.delta_band:.2%}")
                )
            hedge = self.hedge_size(view)
            threshold = p.position_deviation_threshold
            for venue, share in p.allocation.items():
                off = abs(-view.qty(self.perp_key(venue)) - share * hedge) * price / view.equity_usd
                if off > threshold:
                    found.append(
                        Trigger(
                            "split",
                            f"{venue} short {off:.2%} of equity off its {share:.0%} (> {threshold:.2%})",
                        )
                    )
        return found

    def net_delta(self, view: View) -> float:
        """Units of the asset held (every account, net of what investors are owed in it) minus the short."""
        p = self.params
        held = sum(view.token(account, p.asset) for account in (p.wallet, *p.cex_venues))
        if p.share_class == p.asset:
            held -= view.withdrawing
        return held - self.hedge_size(view)

    def hedge_margin_ratio(self, view: View) -> float | None:
        """Σ margin equity over the hedge venues (plus the wallet's free quote) ÷ Σ |notional|; None
        without a short."""
        p = self.params
        equity, notional = 0.0, 0.0
        for venue in p.allocation:
            perp_key, notional_key, quote_key = self._venue_keys(venue)
            contracts = view.qty(perp_key)
            equity += view.qty(quote_key) + unrealised_usd(view, perp_key, notional_key)
            notional += abs(contracts * view.unit_usd(perp_key))
        if notional <= 0.0:
            return None
        wallet = view.token(p.wallet, p.quote)
        if p.share_class == p.quote:
            wallet -= view.withdrawing
        return (equity + max(0.0, wallet)) / notional

    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        orders = BasisPlanner(self, view, target, reduce_only=reduce_only).orders()
        if not orders and not reduce_only:
            self.settling = False  # the sizing is complete: nothing left to send for it
        return orders


class BtcBasisStrategy(BasisStrategy):
    """``btc_basis``: the basis trade on BTC, USDT share class."""

    mode = "btc_basis"
    equity_in = "quote"


class EthBasisStrategy(BasisStrategy):
    """``eth_basis``: the basis trade on ETH, ETH share class (capital arrives and leaves as ETH)."""

    mode = "eth_basis"
    equity_in = "asset"


def unrealised_usd(view: View, perp_key: str, notional_key: str) -> float:
    """PerpNotional + contracts × mark of one venue's perp (0 without a position)."""
    contracts = view.qty(perp_key)
    return view.qty(notional_key) + (contracts * view.unit_usd(perp_key) if contracts else 0.0)
