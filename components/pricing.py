"""Prices: the unit value of every instrument key, from market data alone (see docs/accounting.md).

:class:`PriceBook` is pure state, no I/O. Every monitor that values balances (and every projection)
keeps its own book and feeds it the same market data in the same order, so they all see the same
numbers.

Unit values in USDT (USD and USDT are the same numéraire):

- ``*:BaseToken:USDT`` and ``*:PerpNotional:*``: 1;
- ``*:BaseToken:<asset>``: the asset's reference series (``references``; WETH uses ETH's; the reward
  tokens EIGEN and ETHFI their Uniswap pool against WETH, in WETH, × ETH);
- liquid staking tokens (weETH, wstETH, anything with an :class:`LstRate`): rate (ETH per token) × ETH;
- ``<venue>:Perp:<symbol>``: the venue's own perp bar close, or the series ``perp_marks`` names for it;
- ``aave_v3:aToken:a<asset>``: + the price of the underlying; ``aave_v3:debtToken:debt<asset>``: − it.

Staleness: every price remembers the time of its series' last update. Valuing with a price older than
the series' maximum age raises :class:`StalePrice`; the maximum age depends on the series' sampling
interval (``max_age``: 48 h for hourly bars, which a hole with no other venue's series to mark to may
hold a price for, 72 h for daily series; oracle, reserve and LST series count as daily). "Now" is the newest
timestamp the book has seen: a market-data message or :meth:`PriceBook.advance` (the clock), so two
books fed the same messages agree on staleness. No price at all raises :class:`MissingPrice`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from basis.bus.bus import Bus
from basis.bus.instruments import parse
from basis.bus.messages import Bar, LstRate, Message, OraclePrice, ReserveState

PRICE_MESSAGES: tuple[type[Message], ...] = (Bar, OraclePrice, LstRate, ReserveState)
"""The market data a :class:`PriceBook` takes."""
NS_PER_S = 1_000_000_000
HOUR_S = 3600
DAY_S = 86_400

NUMERAIRES: frozenset[str] = frozenset({"USDT", "USD"})
"""Assets worth exactly 1."""

Reference = tuple[str, str, str] | tuple[str, str, str, str]
"""``(venue, symbol, market[, quote])``: ``market`` is ``spot``/``perp``/``dex`` (a :class:`Bar` close),
``oracle`` (an :class:`OraclePrice` of asset ``symbol``) or ``reserve`` (``ReserveState.price_usd`` of
asset ``symbol``). ``quote`` is the asset the series is quoted in (default USDT; an oracle's own quote)."""

DEFAULT_REFERENCES: dict[str, Reference] = {
    "BTC": ("binance", "BTCUSDT", "spot"),
    "ETH": ("bybit", "ETHUSDT", "spot"),
    "EIGEN": ("uniswap_v3", "EIGENWETH", "dex", "WETH"),
    "ETHFI": ("uniswap_v3", "ETHFIWETH", "dex", "WETH"),
}
REWARD_TOKENS: dict[str, tuple[str, ...]] = {"weETH": ("EIGEN", "ETHFI")}
"""The reward tokens holders of a liquid staking token receive (ether.fi: EIGEN and ETHFI)."""
DEFAULT_ALIASES: dict[str, str] = {"WETH": "ETH"}
DEFAULT_LSTS: tuple[str, ...] = ("weETH", "wstETH")
DEFAULT_MAX_AGE_S: dict[int, int] = {HOUR_S: 48 * HOUR_S, DAY_S: 72 * HOUR_S}
QUOTE_SUFFIXES: tuple[str, ...] = ("USDT", "USDC", "BUSD", "USD")


class PriceError(LookupError):
    """No usable price for an instrument key."""

    def __init__(self, key: str, series: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.series = series


class MissingPrice(PriceError):
    """The series that prices ``key`` has not published yet (or nothing prices ``key``)."""

    def __init__(self, key: str, series: str) -> None:
        super().__init__(key, series, f"no price for {key}: series {series} has no value yet")


class StalePrice(PriceError):
    """The last value of the series that prices ``key`` is older than the series' maximum age."""

    def __init__(self, key: str, series: str, age_ns: int, max_age_ns: int) -> None:
        super().__init__(
            key,
            series,
            f"stale price for {key}: series {series} last updated {age_ns / NS_PER_S / HOUR_S:.2f}h ago "
            f"(max {max_age_ns / NS_PER_S / HOUR_S:g}h)",
        )
        self.age_ns = age_ns
        self.max_age_ns = max_age_ns


class Quote(NamedTuple):
    """The last value of one series: ``value`` in ``quote`` per unit, updated at ``ts`` (ns)."""

    value: float
    quote: str
    ts: int
    interval_s: int


def bar_series(venue: str, symbol: str, market: str) -> str:
    return f"bar:{venue}:{symbol}:{market}"


def oracle_series(venue: str, asset: str) -> str:
    return f"oracle:{venue}:{asset}"


def reserve_series(venue: str, asset: str) -> str:
    return f"reserve:{venue}:{asset}"


def lst_series(venue: str, token: str) -> str:
    return f"lst:{venue}:{token}"


def reference_series(ref: Reference) -> str:
    venue, symbol, market = ref[0], ref[1], ref[2]
    if market == "oracle":
        return oracle_series(venue, symbol)
    if market == "reserve":
        return reserve_series(venue, symbol)
    return bar_series(venue, symbol, market)


def perp_base(symbol: str) -> str:
    """The base asset of a platform perp symbol: ``BTCUSDT`` → ``BTC``. (A venue's own spelling, such as
    OKX's ``BTC-USDT-SWAP``, stays inside its gateway: the venue configuration maps the two.)"""
    for suffix in QUOTE_SUFFIXES:
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            return symbol[: -len(suffix)]
    return symbol


def underlying_of(position_type: str, symbol: str) -> str:
    """The asset an aToken / debtToken / BaseToken symbol stands for (``aWETH`` → ``WETH``)."""
    prefix = {"aToken": "a", "debtToken": "debt"}.get(position_type, "")
    if prefix:
        if not symbol.startswith(prefix) or len(symbol) == len(prefix):
            raise ValueError(f"{position_type} symbol {symbol!r} must start with {prefix!r}")
        return symbol[len(prefix) :]
    return symbol


_ONE, _PERP, _ASSET, _DEBT = range(4)
"""How a key is valued (:meth:`PriceBook._plan`): 1, a perp mark series, + or − an asset's price."""


class PriceBook:
    """Latest value of every price series; answers unit values per instrument key."""

    def __init__(
        self,
        *,
        references: Mapping[str, Reference] | None = None,
        perp_marks: Mapping[str, Reference] | None = None,
        aliases: Mapping[str, str] | None = None,
        lst_tokens: tuple[str, ...] = DEFAULT_LSTS,
        lst_venues: Mapping[str, str] | None = None,
        max_age_s: Mapping[int, int] | None = None,
        point_interval_s: int = DAY_S,
        hosted: bool = False,
    ) -> None:
        """``references``: asset → reference series (default BTC: Binance BTCUSDT spot, ETH: Bybit
        ETHUSDT spot). ``perp_marks``: perp key (``okx:Perp:BTCUSDT``) → proxy series for its mark.
        ``aliases``: asset priced as another (WETH → ETH). ``lst_tokens``: liquid staking tokens of ETH
        (any token with an LstRate also counts). ``lst_venues``: token → the only venue whose LstRate
        counts (default: any venue). ``max_age_s``: series interval → maximum age, both in seconds; a
        series uses the entry of the smallest interval ≥ its own, else 3 × its interval.
        ``point_interval_s``: the interval assumed for oracle, reserve and LST series.
        ``hosted``: the process that made the book keeps it current (it applies the market data once
        for all the components it hands the book to); a component given a hosted book reads it and
        does not subscribe to market data for it.
        """
        self.hosted = hosted
        self.references: dict[str, Reference] = dict(DEFAULT_REFERENCES if references is None else references)
        self.perp_marks: dict[str, Reference] = dict(perp_marks or {})
        self.aliases: dict[str, str] = dict(DEFAULT_ALIASES if aliases is None else aliases)
        self.lst_tokens: frozenset[str] = frozenset(lst_tokens)
        self.lst_venues: dict[str, str] = dict(lst_venues or {})
        self.max_age_s: dict[int, int] = dict(
            sorted((DEFAULT_MAX_AGE_S if max_age_s is None else max_age_s).items())
        )
        self.point_interval_s = point_interval_s
        self._series: dict[str, Quote] = {}
        self._lst_rates: dict[str, tuple[str, Quote]] = {}
        self.now_ns = 0
        self.version = 0
        """Counts the updates that changed a value; a valuer compares it to skip needless work."""
        self.lst_generation = 0
        """Counts the tokens the book has taken an LstRate of: :meth:`is_lst` only changes with it."""
        # Answers already computed for the current values and time: cleared whenever a value changes
        # or the time moves (staleness), so a lookup repeated within a step costs one dict access.
        # Only successful lookups are kept: an unusable price raises again, with its own message.
        self._units: dict[str, float] = {}
        self._assets: dict[str, float] = dict.fromkeys(NUMERAIRES, 1.0)
        self._fixed_units: dict[str, float] = {}
        """Unit values that never change nor go stale (USDT balances, PerpNotional): kept across clears."""
        self._cached = False
        """True when ``_units`` or ``_assets`` hold answers that a price change or a clock step voids."""
        self._max_age_ns: dict[int, int] = {}
        self._plans: dict[str, tuple[int, str]] = {}
        self._reference_names: dict[str, str] = {}
        self._bar_series: dict[tuple[str, str, str], str] = {}

    # --- market data in ------------------------------------------------------------------------

    def apply(self, message: Message) -> bool:
        """Take one market-data message; True when a value changed. Other messages are ignored."""
        if type(message) is Bar:  # the common case first: _set inlined, no pattern matching
            names = self._bar_series
            where = (message.venue, message.symbol, message.market)
            series = names.get(where)
            if series is None:
                series = names[where] = bar_series(*where)
            ts = message.ts
            if ts > self.now_ns:
                self.advance(ts)
            close = message.close
            values = self._series
            last = values.get(series)
            values[series] = Quote(close, "USDT", ts, message.interval_s)
            if last is None or last.value != close:
                self.version += 1
                if self._cached:
                    self._forget()
                return True
            return False
        match message:
            case Bar(venue=venue, symbol=symbol, market=market, close=close, ts=ts, interval_s=interval):
                return self._set(bar_series(venue, symbol, market), Quote(close, "USDT", ts, interval))
            case OraclePrice(venue=venue, asset=asset, quote=quote_asset, price=price, ts=ts):
                return self._set(
                    oracle_series(venue, asset), Quote(price, quote_asset, ts, self.point_interval_s)
                )
            case ReserveState(venue=venue, asset=asset, price_usd=price, ts=ts):
                return self._set(reserve_series(venue, asset), Quote(price, "USD", ts, self.point_interval_s))
            case LstRate(venue=venue, token=token, rate=rate, ts=ts):
                quote = Quote(rate, "ETH", ts, self.point_interval_s)
                changed = self._set(lst_series(venue, token), quote)
                if self.lst_venues.get(token, venue) == venue:
                    previous = self._lst_rates.get(token)
                    if previous is None:
                        self.lst_generation += 1
                    self._lst_rates[token] = (lst_series(venue, token), quote)
                    self._forget()
                    if not changed and (previous is None or previous[1].value != rate):
                        self.version += 1  # the rate in use moved (another venue's series took over)
                        changed = True
                return changed
        return False

    def take(self, message: Message) -> None:
        """:meth:`apply` as a bus handler (which returns nothing)."""
        self.apply(message)

    def advance(self, ts: int) -> None:
        """The clock moved to ``ts`` (ns): staleness is judged against the newest time seen."""
        if ts > self.now_ns:
            self.now_ns = ts
            if self._cached:
                self._forget()

    def _forget(self) -> None:
        self._cached = False
        units = self._units
        units.clear()
        if self._fixed_units:
            units.update(self._fixed_units)
        assets = self._assets
        assets.clear()
        for numeraire in NUMERAIRES:
            assets[numeraire] = 1.0

    def _set(self, series: str, quote: Quote) -> bool:
        if quote.ts > self.now_ns:
            self.advance(quote.ts)
        previous = self._series.get(series)
        self._series[series] = quote
        if previous is None or previous.value != quote.value:
            self.version += 1
            if self._cached:
                self._forget()
            return True
        return False

    # --- lookups -------------------------------------------------------------------------------

    def max_age_ns(self, interval_s: int) -> int:
        age_ns = self._max_age_ns.get(interval_s)
        if age_ns is not None:
            return age_ns
        for interval, age in self.max_age_s.items():
            if interval >= interval_s:
                age_ns = age * NS_PER_S
                break
        else:
            age_ns = 3 * interval_s * NS_PER_S
        self._max_age_ns[interval_s] = age_ns
        return age_ns

    def _fresh(self, key: str, series: str, quote: Quote | None) -> Quote:
        if quote is None:
            raise MissingPrice(key, series)
        age = self.now_ns - quote.ts
        limit = self.max_age_ns(quote.interval_s)
        if age > limit:
            raise StalePrice(key, series, age, limit)
        return quote

    def series_value(self, key: str, series: str) -> Quote:
        """The fresh quote of ``series`` used to value ``key``; raises Missing/StalePrice."""
        return self._fresh(key, series, self._series.get(series))

    def is_lst(self, asset: str) -> bool:
        return asset in self.lst_tokens or asset in self._lst_rates

    def lst_rate(self, token: str, key: str | None = None) -> float:
        """ETH per 1 ``token``."""
        entry = self._lst_rates.get(token)
        venue = self.lst_venues.get(token, "*")
        if entry is None:
            raise MissingPrice(key or token, lst_series(venue, token))
        series, quote = entry
        return self._fresh(key or token, series, quote).value

    def asset_price(self, asset: str, key: str | None = None, _seen: frozenset[str] = frozenset()) -> float:
        """Price of 1 ``asset`` in USDT."""
        if not _seen:
            price = self._assets.get(asset)
            if price is None:
                price = self._assets[asset] = self._asset_price(asset, key or asset, _seen)
                self._cached = True
            return price
        return self._asset_price(asset, key or asset, _seen)

    def _asset_price(self, asset: str, key: str, _seen: frozenset[str]) -> float:
        if asset in NUMERAIRES:
            return 1.0
        if asset in _seen:
            raise MissingPrice(key, f"circular reference through {asset}")
        ref = self.references.get(asset)
        if ref is not None:
            series = self._reference_names.get(asset)
            if series is None:
                series = self._reference_names[asset] = reference_series(ref)
            quote = self._fresh(key, series, self._series.get(series))
            quote_asset = ref[3] if len(ref) == 4 else quote.quote
            if quote_asset in NUMERAIRES:
                return quote.value
            return quote.value * self.asset_price(quote_asset, key, _seen | {asset})
        if self.is_lst(asset):
            return self.lst_rate(asset, key) * self.asset_price("ETH", key, _seen | {asset})
        alias = self.aliases.get(asset)
        if alias is not None:
            return self.asset_price(alias, key, _seen | {asset})
        raise MissingPrice(key, f"no reference series for {asset}")

    def unit_value_usd(self, key: str) -> float:
        """Value in USDT of one unit of the instrument ``key`` (docs/accounting.md)."""
        unit = self._units.get(key)
        if unit is None:
            unit = self._units[key] = self._unit_value_usd(key)
            kind, name = self._plans[key]
            if kind == _ONE or (kind != _PERP and name in NUMERAIRES):
                self._fixed_units[key] = unit
            else:
                self._cached = True
        return unit

    def units_usd(self, keys: Iterable[str]) -> dict[str, float]:
        """:meth:`unit_value_usd` of each key, in the order of ``keys`` (one call for a whole book)."""
        units = self._units
        out: dict[str, float] = {}
        for key in keys:
            unit = units.get(key)
            out[key] = unit if unit is not None else self.unit_value_usd(key)
        return out

    def _unit_value_usd(self, key: str) -> float:
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(key)
        kind, name = plan
        if kind == _ASSET or kind == _DEBT:
            price = self._assets.get(name)
            if price is None:
                price = self._reference_price(name)
                if price is None:
                    price = self.asset_price(name, key)
            return price if kind == _ASSET else -price
        if kind == _PERP:
            return self._fresh(key, name, self._series.get(name)).value
        return 1.0

    def _reference_price(self, asset: str) -> float | None:
        """The common case of :meth:`asset_price`, remembered like it: ``asset`` has a reference series
        quoted in the numéraire and its quote is fresh. None for anything else (the full path decides)."""
        series = self._reference_names.get(asset)
        if series is None:
            ref = self.references.get(asset)
            if ref is None or asset in NUMERAIRES:
                return None
            series = self._reference_names[asset] = reference_series(ref)
        quote = self._series.get(series)
        if quote is None:
            return None
        ref = self.references[asset]
        if (ref[3] if len(ref) == 4 else quote.quote) not in NUMERAIRES:
            return None
        limit = self._max_age_ns.get(quote.interval_s)
        if limit is None or self.now_ns - quote.ts > limit:
            return None
        self._assets[asset] = price = quote.value
        self._cached = True
        return price

    def _plan(self, key: str) -> tuple[int, str]:
        """How ``key`` is valued: ``(kind, asset or series)``; parsed and checked once per key."""
        venue, position_type, symbol = parse(key)
        if position_type == "PerpNotional":
            return _ONE, ""
        if position_type == "Perp":
            ref = self.perp_marks.get(key)
            return _PERP, reference_series(ref) if ref is not None else bar_series(venue, symbol, "perp")
        underlying = underlying_of(position_type, symbol)
        return (_DEBT if position_type == "debtToken" else _ASSET), underlying

    def staked_token(self, key: str) -> str | None:
        """The liquid staking token whose exchange rate values ``key`` (a balance, an aToken or a debt of
        it), or None for any other key."""
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(key)
        kind, name = plan
        if (kind == _ASSET or kind == _DEBT) and name not in self.references and self.is_lst(name):
            return name
        return None

    def share_price(self, share_class: str) -> float:
        """Price of one unit of the share class in USDT (USDT: 1; ETH, BTC: their reference)."""
        price = self._assets.get(share_class)  # remembered: no need to name the key of a lookup error
        if price is not None:
            return price
        return self.asset_price(share_class, f"share class {share_class}")

    def unit_value(self, key: str, share_class: str) -> float:
        """Value in the share class of one unit of ``key``."""
        unit = self.unit_value_usd(key)
        if share_class in NUMERAIRES:
            return unit
        return unit / self.share_price(share_class)


# --- valuing a book: shared by the exposure monitor, the PnL ledger and the projections so that they
# --- add the same floats in the same order (instrument keys sorted) and reach bit-identical totals.


def ordered_sum(values: Iterable[float]) -> float:
    """Left-to-right float sum starting at 0.0 (callers always pass the same order)."""
    total = 0.0
    for value in values:
        total += value
    return total


def share_units(prices: PriceBook, keys: Iterable[str], share_class: str) -> dict[str, float]:
    """Unit value in the share class of each key (keys sorted); raises a PriceError if one is missing."""
    ordered = sorted(keys)
    if share_class in NUMERAIRES:
        return prices.units_usd(ordered)
    share = prices.share_price(share_class)
    return {k: u / share for k, u in prices.units_usd(ordered).items()}


def book_value(positions: Mapping[str, float], units: Mapping[str, float]) -> float:
    """Σ quantity × unit value over the keys of ``positions`` in sorted order."""
    return ordered_sum(positions[k] * units[k] for k in sorted(positions))


async def follow_prices(bus: Bus, prices: PriceBook) -> None:
    """Keep ``prices`` current with the market data on ``bus``, unless its host does (a hosted book)."""
    if not prices.hosted:
        await bus.subscribe("md.>", prices.take, types=PRICE_MESSAGES)
