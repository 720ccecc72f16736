"""Simulated DEX (Uniswap v3): swaps at the latest pool bar close, with the pool fee and slippage.

A pool is a bar series ``md.bar.<bar_venue>.<POOL>`` (``market="dex"``) whose close is the price of the
pool's base in its quote (``WETHUSDT``: USDT per WETH), or a liquid staking token's pool against WETH
(``weETHWETH``), priced at the token's protocol exchange rate (``md.lst.<issuer>.<token>``): the data
hold no such pool's bars, and arbitrage against the protocol keeps its price at the rate, less the pool
fee and slippage charged below. ``Swap(sell_asset, buy_asset, amount)`` sells
``amount`` of ``sell_asset``; the pool fee is taken from the input and the price moves ``slippage_bps``
against the trader:

* selling base: ``out = amount × (1 − fee) × close × (1 − slippage − impact)``;
* selling quote: ``out = amount × (1 − fee) / (close × (1 + slippage + impact))``.

``slippage`` is the mode's flat ``slippage_bps``; ``impact`` is the pool's price impact, sized by its
liquidity: with ``depth`` the active liquidity on each side of the pool (in its quote asset, from the
venue's configuration ``pool_depth``) and ``v`` the value swapped in the quote asset (after the fee),
``impact = v / (depth + v)``, the average price a constant-product pool with that much on each side gives
a trade of ``v`` (1 bp for a trade of 1/10,000 of the depth, 10% for a ninth of it). A pool without a
configured depth has no impact. A swap whose slippage and impact exceed its ``max_slippage_bps`` is
refused. Booking: ``wallet:BaseToken:<sell>
−amount``, ``wallet:BaseToken:<buy> +out`` (``price`` = execution price, quote per base), gas; ``fee`` =
``amount × pool fee`` in the sold asset. ETH and WETH are one wallet balance and both match a WETH pool.
"""

from __future__ import annotations

from collections.abc import Mapping

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import Action, Bar, Fill, LstRate, Swap

from ..errors import NoPrice, SlippageExceeded, UnknownInstrument
from ..gateway import Execution
from .cex import BPS
from .ledger import Balances, positive
from .onchain import GasMeter, OnChainGateway, wallet_asset, wallet_key

DEFAULT_GAS: dict[str, int] = {"swap": 180_000}


class DexPools:
    """Pools and their latest prices. No I/O."""

    def __init__(
        self,
        pools: Mapping[str, tuple[str, str]],
        *,
        fee: float = 0.003,
        slippage_bps: float = 0.0,
        rate_pools: Mapping[str, tuple[str, str]] | None = None,
        rate_pool_fee: float = 0.0001,
        depth: Mapping[str, float] | None = None,
    ) -> None:
        self.depth = dict(depth or {})
        """Active liquidity on each side of a pool, in its quote asset, by pool symbol."""
        self.rate_pools = dict(rate_pools or {})
        """The pools priced at a staking token's exchange rate: symbol → (token, quote)."""
        self.pools = {symbol: (base, quote) for symbol, (base, quote) in {**pools, **self.rate_pools}.items()}
        self.fee = fee
        self.fees = {symbol: rate_pool_fee for symbol in self.rate_pools}
        """Pools whose fee is not ``fee``."""
        self.slippage_bps = slippage_bps
        self.prices: dict[str, float] = {}

    def on_bar(self, bar: Bar) -> None:
        if bar.symbol in self.pools:
            self.prices[bar.symbol] = bar.close

    def on_rate(self, rate: LstRate) -> None:
        for symbol, (token, _) in self.rate_pools.items():
            if token == rate.token and rate.rate > 0.0:
                self.prices[symbol] = rate.rate

    def pool_for(self, sell: str, buy: str) -> tuple[str, bool]:
        """The pool trading ``sell`` for ``buy`` and whether ``sell`` is its base."""
        a, b = wallet_asset(sell), wallet_asset(buy)
        for symbol, (base, quote) in self.pools.items():
            base_w, quote_w = wallet_asset(base), wallet_asset(quote)
            if (a, b) == (base_w, quote_w):
                return symbol, True
            if (a, b) == (quote_w, base_w):
                return symbol, False
        raise UnknownInstrument(f"no pool for {sell}/{buy}")

    def impact(self, symbol: str, value: float) -> float:
        """The price impact of swapping ``value`` (quote units) in pool ``symbol`` (see the module
        docstring)."""
        depth = self.depth.get(symbol)
        return value / (depth + value) if depth else 0.0

    def swap(self, sell: str, buy: str, amount: float, max_slippage_bps: float, gas_eth: float) -> Execution:
        amount = positive(amount, "amount")
        symbol, selling_base = self.pool_for(sell, buy)
        close = self.prices.get(symbol)
        if close is None:
            raise NoPrice(f"no price for pool {symbol} yet")
        fee = amount * self.fees.get(symbol, self.fee)
        slippage = self.slippage_bps * BPS + self.impact(
            symbol, (amount - fee) * (close if selling_base else 1.0)
        )
        if slippage / BPS > max_slippage_bps:
            raise SlippageExceeded(
                f"slippage and price impact {slippage / BPS:.4g} bps > limit {max_slippage_bps:g} bps "
                f"(pool {symbol}, depth {self.depth.get(symbol, 0.0):g})"
            )
        if selling_base:
            price = close * (1.0 - slippage)
            out = (amount - fee) * price
        else:
            price = close * (1.0 + slippage)
            out = (amount - fee) / price
        changes = (
            Fill(instrument=wallet_key(sell), delta=-amount, price=price if selling_base else 0.0),
            Fill(instrument=wallet_key(buy), delta=out, price=0.0 if selling_base else price),
            GasMeter.change(gas_eth),
        )
        return Execution(changes=changes, fee=fee, fee_asset=wallet_asset(sell), gas_eth=gas_eth)


class SimulatedDex(OnChainGateway):
    """Gateway of a simulated DEX: ``cmd.<venue>.swap``.

    ``pools`` maps pool symbols to ``(base, quote)``, e.g. ``{"WETHUSDT": ("WETH", "USDT")}``; prices come
    from ``md.bar.<bar_venue>.<POOL>`` (``bar_venue`` defaults to the venue). ``rate_pools`` maps the
    pools of staking tokens the same way (``{"weETHWETH": ("weETH", "WETH")}``), priced from
    ``md.lst.<issuer>.<token>`` with ``issuers`` giving each token's issuer.
    """

    default_gas = DEFAULT_GAS

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        pools: Mapping[str, tuple[str, str]],
        venue: str = "uniswap",
        bar_venue: str = "",
        pool_fee: float = 0.003,
        slippage_bps: float = 0.0,
        rate_pools: Mapping[str, tuple[str, str]] | None = None,
        rate_pool_fee: float = 0.0001,
        issuers: Mapping[str, str] | None = None,
        depth: Mapping[str, float] | None = None,
        gas_units: Mapping[str, int] | None = None,
        chain: str = "ethereum",
        gas_price_gwei: float | None = None,
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
        self.pools = DexPools(
            pools,
            fee=pool_fee,
            slippage_bps=slippage_bps,
            rate_pools=rate_pools,
            rate_pool_fee=rate_pool_fee,
            depth=depth,
        )
        self.bar_venue = bar_venue or venue
        self.issuers = dict(issuers or {})

    async def on_start_venue(self) -> None:
        for symbol in self.pools.pools:
            if symbol in self.pools.rate_pools:
                continue
            subject = subjects.md("bar", self.bar_venue, subjects.bar_instrument(symbol, "dex"))
            await self.bus.subscribe(subject, self.on_bar, types=(Bar,))
        for token in sorted({token for token, _ in self.pools.rate_pools.values()}):
            subject = subjects.pattern(subjects.MD, "lst", self.issuers.get(token, "*"), token)
            await self.bus.subscribe(subject, self.pools.on_rate, types=(LstRate,))

    async def on_bar(self, bar: Bar) -> None:
        if bar.venue == self.bar_venue:
            self.pools.on_bar(bar)

    def perform(self, action: Action, wallet: Balances) -> Execution:
        if not isinstance(action, Swap):
            return super().perform(action, wallet)
        self.require_wallet(action.sell_asset, positive(action.amount, "amount"), wallet)
        return self.pools.swap(
            action.sell_asset,
            action.buy_asset,
            action.amount,
            action.max_slippage_bps,
            self.gas_cost("swap"),
        )
