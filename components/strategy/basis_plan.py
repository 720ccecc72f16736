"""Orders for one step of the basis trade toward its target, using only what is where now.

One decision sends at most one spot trade, one hedge (split by the router) and the transfers that are
possible with the balances held now; what needs funds still in flight waits for a later decision
(the strategy decides again once every outcome is in). So an entry takes a few steps: fund the venues,
then trade; a margin rebalance: sell spot and buy back perps, then move the freed USDT.

1. **Spot** (on the spot venue): ``Σ target − Σ held`` of the asset over every account (wallet and
   venues). Sell what the spot venue holds; buy with the quote the spot venue holds beyond its margin
   target (``fee_buffer`` kept for fees). What cannot be done now is remembered as a remaining buy or
   sell, which the transfers fund.
2. **Hedge** (router, split by allocation): never above the target nor above the long held after the
   spot trade (a short left naked by a failed spot buy is bought back at the next step); reductions go
   at once; growth is limited to what every venue's margin supports at ``opening_ratio`` — the router
   splits one hedge across all venues, so the least funded venue bounds it. Spot growth is then cut
   back so the book never holds more unhedged spot than before.
3. **Transfers** (quote, then the asset): a venue sends what it holds above what it must keep (the
   margin of the larger of its current and target position) to the wallet; the wallet sends what it
   holds above what investors are owed to the venues short of their target (pro rata when short).
   Every transfer pays gas or a withdrawal fee, so a venue's balance moves only once it is off by more
   than ``transfer_band`` of what it should hold (and at least ``min_order_usd``); while investors are
   owed a withdrawal, every surplus goes to the wallet whatever its size.

With ``reduce_only`` (risk override) only sells of the spot leg and buy-backs of perps are sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from basis.bus import instruments
from basis.bus.messages import AnyAction, PerpTrade, SpotTrade, Transfer

from .view import Target, View

if TYPE_CHECKING:
    from .basis import BasisStrategy


class BasisPlanner:
    """One planning pass (see the module docstring)."""

    def __init__(self, strategy: BasisStrategy, view: View, target: Target, *, reduce_only: bool) -> None:
        self.s = strategy
        self.p = strategy.params
        self.view = view
        self.target = target
        self.reduce_only = reduce_only
        self.price = view.price(self.p.asset)
        self.accounts = (self.p.wallet, *self.p.cex_venues)
        self.min_units = strategy.params.min_order_usd / self.price

    # --- helpers ----------------------------------------------------------------------------------

    def held(self, account: str, asset: str) -> float:
        return self.view.token(account, asset)

    def wanted(self, account: str, asset: str) -> float:
        return self.target.get(instruments.token(account, asset))

    def cost(self, units: float) -> float:
        """Quote spent to buy ``units`` of the asset, with the fee buffer."""
        return units * self.price * (1.0 + self.p.fee_buffer)

    # --- the pass ---------------------------------------------------------------------------------

    def orders(self) -> list[AnyAction]:
        p = self.p
        net = self.spot_gap()
        sell = min(-net, max(0.0, self.held(p.spot_venue, p.asset))) if net < 0 else 0.0
        buy = self.affordable(net) if net > 0 and not self.reduce_only else 0.0
        sell = sell if sell >= self.min_units else 0.0
        buy = buy if buy >= self.min_units else 0.0
        hedge = self.hedge_after(buy, sell)
        unhedged = self.long_after(buy, sell) - hedge
        if buy > 0 and unhedged > 1e-12 * max(1.0, hedge):
            buy = max(0.0, buy - unhedged)  # never buy spot the hedge cannot cover
            buy = buy if buy >= self.min_units else 0.0
            hedge = self.hedge_after(buy, sell)

        orders: list[AnyAction] = []
        if sell:
            orders.append(SpotTrade(symbol=p.symbol, side="sell", quantity=sell))
        if buy:
            orders.append(SpotTrade(symbol=p.symbol, side="buy", quantity=buy))
        orders += self.hedge_orders(hedge)
        if not self.reduce_only:
            remaining_buy = max(0.0, net - buy) if net > 0 else 0.0
            remaining_sell = max(0.0, -net - sell) if net < 0 else 0.0
            orders += self.transfers(buy, sell, remaining_buy, remaining_sell)
        return orders

    def spot_gap(self) -> float:
        """Units of the asset to buy (> 0) or sell (< 0) on the spot venue."""
        p = self.p
        if self.reduce_only:
            return min(0.0, self.target.get(self.s.spot_key) - self.view.qty(self.s.spot_key))
        need = sum(self.wanted(a, p.asset) for a in self.accounts)
        held = sum(self.held(a, p.asset) for a in self.accounts)
        return need - held

    def affordable(self, net: float) -> float:
        p = self.p
        free = self.held(p.spot_venue, p.quote) - self.wanted(p.spot_venue, p.quote)
        return min(net, max(0.0, free) / (self.price * (1.0 + p.fee_buffer)))

    def long_after(self, buy: float, sell: float) -> float:
        """Units of the asset held long after the spot trade, net of what investors are owed in it."""
        p = self.p
        held = sum(self.held(a, p.asset) for a in self.accounts)
        return held + buy - sell - self.wanted(p.wallet, p.asset)

    def hedge_after(self, buy: float, sell: float) -> float:
        """The short (units, positive) to hold after this step: never more than the target nor than the
        long held (a short left naked by a failed spot order is bought back), grown only as far as every
        venue's margin allows."""
        current = self.s.hedge_size(self.view)
        wanted = -sum(self.target.get(self.s.perp_key(v)) for v in self.p.allocation)
        upper = max(0.0, min(wanted, self.long_after(buy, sell)))
        if upper <= current or self.reduce_only:
            return min(current, upper)
        supported = min(self.margin_capacity(v, buy) for v in self.p.allocation)
        return max(current, min(upper, supported))

    def margin_capacity(self, venue: str, buy: float) -> float:
        """The largest total short the router may split so that ``venue`` stays at ``opening_ratio``."""
        p = self.p
        equity = self.held(venue, p.quote) + self.s.unrealised(self.view, venue)
        if venue == p.spot_venue:
            equity -= self.cost(buy)
        share = p.allocation[venue]
        return max(0.0, equity) / (p.opening_ratio * share * self.s.mark(self.view, venue))

    def hedge_orders(self, hedge: float) -> list[AnyAction]:
        current = self.s.hedge_size(self.view)
        delta = hedge - current
        if abs(delta) < self.min_units:
            return []
        if delta > 0:
            return [PerpTrade(symbol=self.p.symbol, side="sell", quantity=delta)]
        all_short = all(self.view.qty(self.s.perp_key(v)) < 0 for v in self.p.allocation)
        return [PerpTrade(symbol=self.p.symbol, side="buy", quantity=-delta, reduce_only=all_short)]

    # --- transfers --------------------------------------------------------------------------------

    def keep(
        self, venue: str, asset: str, remaining_buy: float, remaining_sell: float
    ) -> tuple[float, float]:
        """``(keep, need)``: what ``venue`` must keep before sending any away, and what it should hold."""
        p = self.p
        if asset == p.asset:
            need = self.wanted(venue, asset) + (remaining_sell if venue == p.spot_venue else 0.0)
            return need, need
        need = self.wanted(venue, asset) + (self.cost(remaining_buy) if venue == p.spot_venue else 0.0)
        keep = need
        if venue in p.allocation:
            contracts = abs(self.view.qty(self.s.perp_key(venue)))
            current = p.margin_buffer * contracts * self.s.mark(self.view, venue)
            current -= min(0.0, self.s.unrealised(self.view, venue))
            keep = max(keep, current + (self.cost(remaining_buy) if venue == p.spot_venue else 0.0))
        return keep, need

    def transfer_band(self) -> float:
        """How far a venue's balance may drift before it moves: ``transfer_band``, or none while
        investors are owed a withdrawal."""
        return 0.0 if len(self.s.withdrawals) else self.p.transfer_band

    def transfers(
        self, buy: float, sell: float, remaining_buy: float, remaining_sell: float
    ) -> list[AnyAction]:
        p = self.p
        outgoing: list[AnyAction] = []
        incoming: list[AnyAction] = []
        band = self.transfer_band()
        for asset in dict.fromkeys((p.quote, p.asset)):
            unit = 1.0 if asset == p.quote else self.price
            minimum = p.min_order_usd / unit
            deficits: list[tuple[str, float]] = []
            for venue in p.cex_venues:
                held = self.held(venue, asset)
                if venue == p.spot_venue:
                    held -= self.cost(buy) if asset == p.quote else sell
                keep, need = self.keep(venue, asset, remaining_buy, remaining_sell)
                worth = max(minimum, band * max(keep, need))
                if held - keep >= worth:
                    outgoing.append(
                        Transfer(
                            source=venue, destination=p.wallet, asset=asset, amount=min(held - keep, held)
                        )
                    )
                elif need - held >= worth:
                    deficits.append((venue, need - held))
            free = self.held(p.wallet, asset) - self.wanted(p.wallet, asset)
            total = sum(d for _, d in deficits)
            if free <= 0 or total <= 0:
                continue
            scale = min(1.0, free / total)
            for venue, deficit in deficits:
                amount = deficit * scale
                if amount >= minimum:
                    incoming.append(Transfer(source=p.wallet, destination=venue, asset=asset, amount=amount))
        return outgoing + incoming
