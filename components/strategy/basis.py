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

Besides the deviation threshold, a venue whose margin ratio is at or below ``margin_warning`` triggers a
rebalance: at the current price the target sells spot, buys back perps and moves the freed USDT to the
venues that need it (through the wallet). See :mod:`.basis_plan` for how orders are sequenced.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from basis.bus import instruments
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import AnyAction
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
        p = self.params
        size = self.size_for(view, deployable_usd)
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

    def rebalance_triggers(self, view: View) -> list[Trigger]:
        found: list[Trigger] = []
        warning = self.params.margin_warning
        for venue in self.params.allocation:
            ratio = self.margin_ratio(view, venue)
            if ratio is not None and ratio <= warning:
                found.append(Trigger("margin", f"{venue} margin ratio {ratio:.4f} <= warning {warning:g}"))
        return found

    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        return BasisPlanner(self, view, target, reduce_only=reduce_only).orders()


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
