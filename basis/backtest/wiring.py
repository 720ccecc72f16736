"""From a run's configuration to what a backtest runs: the series to replay, the price references,
and the simulated venues. The venues a mode needs come from the mode's flags and allocations
(``ModeConfig.required_venues``); this module only maps each one onto its simulated gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.instruments import perp as perp_key
from basis.components.feed import Catalogue, SeriesSpec
from basis.components.pricing import DEFAULT_REFERENCES, REWARD_TOKENS, Reference
from basis.configs import (
    CexVenueConfig,
    DexVenueConfig,
    FlashLoanVenueConfig,
    MiddlewareVenueConfig,
    ModeConfig,
    RunConfig,
)
from basis.configs.run import ResolvedVenue, SeriesSource
from basis.venues.simulated import (
    SimulatedAave,
    SimulatedCex,
    SimulatedDex,
    SimulatedStaking,
    SimulatedWallet,
)
from basis.venues.simulated.aave import RiskParams
from basis.venues.simulated.bundle import FlashLender, SimulatedBundler
from basis.venues.simulated.chain import CHAIN, ContractFactory, SimulatedChain
from basis.venues.simulated.onchain import OnChainGateway

from .errors import BacktestError

VenueFactory = Callable[[Bus, Clock, IdFactory], Component]

REFERENCE_SERIES: dict[str, tuple[str, str]] = {
    "BTC": ("binance", "cex/binance/BTCUSDT_spot_1h.csv.gz"),
    "ETH": ("bybit", "cex/bybit/ETHUSDT_spot_1h.csv.gz"),
    "EIGEN": ("uniswap_v3", "tokens/eigen_weth_1h.csv.gz"),
    "ETHFI": ("uniswap_v3", "tokens/ethfi_weth_1h.csv.gz"),
}
"""The file behind each asset's reference price (``components.pricing.DEFAULT_REFERENCES``)."""
UNBOUNDED_REFERENCES: frozenset[str] = frozenset(REWARD_TOKENS["weETH"])
"""Assets whose reference series does not bound a run's window: reward tokens, which exist only from
their first distribution on (EIGEN from 2024-10-05) and are valued only once held."""


def reward_tokens(mode: ModeConfig) -> tuple[str, ...]:
    """The reward tokens a mode receives: those of the liquid staking token it holds."""
    if not mode.staking_enabled or mode.lst_type is None:
        return ()
    return REWARD_TOKENS.get(str(mode.lst_type), ())


@dataclass(slots=True)
class Proxy:
    venue: str
    series: str
    marks_to: str
    path: str

    def to_dict(self) -> dict[str, str]:
        return {"venue": self.venue, "series": self.series, "marks_to": self.marks_to, "file": self.path}


@dataclass(slots=True)
class Wiring:
    series: list[SeriesSpec] = field(default_factory=list)
    references: dict[str, Reference] = field(default_factory=dict)
    perp_marks: dict[str, Reference] = field(default_factory=dict)
    proxies: list[Proxy] = field(default_factory=list)
    unbounded: set[str] = field(default_factory=set)
    """Names of the series that do not bound the run's window (see :data:`UNBOUNDED_REFERENCES`)."""
    venues: list[tuple[str, VenueFactory]] = field(default_factory=list)
    """``(component name, factory)`` of each simulated venue."""

    def add_series(self, catalogue: Catalogue, path: str) -> None:
        spec = catalogue.for_path(path)
        if spec not in self.series:
            self.series.append(spec)


def _market_of(series_name: str) -> tuple[str, str]:
    """``BTCUSDT_perp`` -> (``BTCUSDT``, ``perp``)."""
    symbol, _, kind = series_name.rpartition("_")
    return symbol, kind


def _source(venue: ResolvedVenue, name: str) -> SeriesSource:
    try:
        return venue.series[name]
    except KeyError:
        raise BacktestError(
            f"configs/venues/{venue.name}.yaml: environments.simulation.series: no series {name!r} "
            f"(nor a proxy for it), which this mode needs"
        ) from None


def _note_proxy(wiring: Wiring, venue: str, name: str, source: SeriesSource) -> None:
    if source.venue != venue:
        wiring.proxies.append(Proxy(venue, name, f"{source.venue}:{source.series}", source.path))


def _hedges(run: RunConfig) -> dict[str, float]:
    """The perp venues a mode hedges on (allocation > 0)."""
    mode = run.mode
    return {v: a for v, a in mode.hedge_allocation.items() if a > 0} if mode.basis_trade_enabled else {}


def price_sources(run: RunConfig) -> tuple[dict[str, Reference], dict[str, Reference]]:
    """How a run values balances, in any environment: the reference series of each asset it holds
    (ETH always: gas is paid in ETH; the reward tokens of its staking token), and the series each perp
    is marked to (the venue's own, or the proxy its simulation config names)."""
    mode = run.mode
    assets = {mode.asset, run.share_class.name, "ETH", *reward_tokens(mode)}
    references = {asset: DEFAULT_REFERENCES[asset] for asset in sorted(assets) if asset in DEFAULT_REFERENCES}
    symbol = f"{mode.asset}USDT"
    hedge_venues = _hedges(run)
    marks: dict[str, Reference] = {}
    for name, venue in run.venues.items():
        if name not in hedge_venues:
            continue
        source = venue.series.get(f"{symbol}_perp") if venue.is_simulated else None
        if source is None:
            marks[perp_key(name, symbol)] = (name, symbol, "perp")
        else:
            src_symbol, src_market = _market_of(source.series)
            marks[perp_key(name, symbol)] = (source.venue, src_symbol, src_market)
    return references, marks


def wire(run: RunConfig, catalogue: Catalogue) -> Wiring:
    """Everything a simulated run of ``run`` needs, resolved against ``catalogue``."""
    mode = run.mode
    wiring = Wiring()
    symbol = f"{mode.asset}USDT"
    wiring.references, wiring.perp_marks = price_sources(run)
    for asset in wiring.references:
        wiring.add_series(catalogue, REFERENCE_SERIES[asset][1])
        if asset in UNBOUNDED_REFERENCES:
            wiring.unbounded.add(catalogue.for_path(REFERENCE_SERIES[asset][1]).name)

    spot_venue = mode.venues.spot if mode.basis_trade_enabled else None
    hedges = _hedges(run)
    chain = _Chain()
    for name, venue in run.venues.items():
        if not venue.is_simulated:
            raise BacktestError(
                f"a backtest simulates every venue; {name} is configured for {venue.environment}"
            )
        kind, config = venue.kind, venue.config
        if kind == "cex":
            _wire_cex(wiring, catalogue, run, venue, symbol, spot=name == spot_venue, perp=name in hedges)
        elif kind == "lending":
            chain.contracts.append(_aave(wiring, catalogue, venue, mode))
        elif kind == "staking":
            chain.contracts.append(_staking(wiring, catalogue, venue, mode))
        elif isinstance(config, DexVenueConfig):
            chain.contracts.append(_dex(wiring, catalogue, venue, mode))
        elif isinstance(config, FlashLoanVenueConfig):
            chain.lenders[name] = FlashLender(name, config.flash_loan_fee, config.gas.get("flash_loan", 0))
        elif isinstance(config, MiddlewareVenueConfig):
            chain.bundle_venue, chain.bundle_gas = name, {str(op): n for op, n in config.gas.items()}
        elif kind == "rpc":
            chain.contracts.append(_wallet(wiring, catalogue, run, venue))
        else:
            raise BacktestError(f"the backtest does not simulate {name} ({kind}) yet")
    if chain.contracts:
        wiring.venues.append((CHAIN, chain.factory()))
    return wiring


@dataclass(slots=True)
class _Chain:
    """The on-chain venues of a run, gathered for the one simulated chain that hosts them."""

    contracts: list[ContractFactory] = field(default_factory=list)
    lenders: dict[str, FlashLender] = field(default_factory=dict)
    bundle_venue: str = ""
    bundle_gas: dict[str, int] = field(default_factory=dict)

    def factory(self) -> VenueFactory:
        contracts, lenders, venue, gas = (
            list(self.contracts),
            dict(self.lenders),
            self.bundle_venue,
            self.bundle_gas,
        )

        def bundler(
            bus: Bus, clock: Clock, ids: IdFactory, on_chain: Mapping[str, OnChainGateway]
        ) -> OnChainGateway:
            return SimulatedBundler(
                bus, clock, ids, contracts=on_chain, lenders=lenders, venue=venue, gas_units=dict(gas)
            )

        def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
            return SimulatedChain(bus, clock, ids, contracts=contracts, bundler=bundler if venue else None)

        return make


def _wire_cex(
    wiring: Wiring,
    catalogue: Catalogue,
    run: RunConfig,
    venue: ResolvedVenue,
    symbol: str,
    *,
    spot: bool,
    perp: bool,
) -> None:
    instruments: list[str] = []
    marks: dict[str, tuple[str, str, str]] = {}
    for market, wanted in (("spot", spot), ("perp", perp)):
        if not wanted:
            continue
        name = f"{symbol}_{market}"
        source = _source(venue, name)
        wiring.add_series(catalogue, source.path)
        _note_proxy(wiring, venue.name, name, source)
        token = symbol if market == "spot" else f"{symbol}-PERP"
        instruments.append(token)
        src_symbol, src_market = _market_of(source.series)
        marks[token] = (source.venue, src_symbol, src_market)
    if perp:
        funding = _source(venue, f"{symbol}_funding")
        if funding.venue != venue.name:
            raise BacktestError(f"{venue.name} has no funding series of its own for {symbol}")
        wiring.add_series(catalogue, funding.path)
    config: Any = venue.config
    destinations = ("wallet", *(v for v, o in run.venues.items() if o.kind == "cex" and v != venue.name))

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return SimulatedCex(
            bus,
            clock,
            ids,
            venue=venue.name,
            instruments=tuple(instruments),
            marks=dict(marks),
            spot_taker_fee=config.fees.spot.taker,
            perp_taker_fee=config.fees.perp.taker,
            slippage_bps=run.mode.slippage_bps,
            initial_margin=config.margin.initial,
            maintenance_margin=config.margin.maintenance,
            withdrawal_delay_s=config.transfers.withdrawal_delay_seconds,
            withdrawal_fees=dict(config.transfers.withdrawal_fee),
            destinations=destinations,
        )

    wiring.venues.append((f"sim-{venue.name}", make))


def _aave(wiring: Wiring, catalogue: Catalogue, venue: ResolvedVenue, mode: ModeConfig) -> ContractFactory:
    reserves: list[str] = ["WETH" if mode.asset == "ETH" else mode.asset]
    if mode.staking_enabled and mode.lst_type is not None:
        reserves.append(mode.lst_type)  # the LST is supplied as collateral
    for reserve in reserves:
        wiring.add_series(catalogue, _source(venue, f"{reserve}_reserve").path)
    config: Any = venue.config
    risk = config.risk_params

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> OnChainGateway:
        return SimulatedAave(
            bus,
            clock,
            ids,
            venue=venue.name,
            gas_units=dict(config.gas),
            standard=RiskParams(
                risk.standard.ltv, risk.standard.liquidation_threshold, risk.standard.liquidation_bonus
            ),
            emode_risk=RiskParams(
                risk.emode.ltv, risk.emode.liquidation_threshold, risk.emode.liquidation_bonus
            ),
            emode_assets=tuple(risk.emode_assets),
            emode_category=risk.emode_category_id,
            close_factor=risk.close_factor,
        )

    return make


def _staking(wiring: Wiring, catalogue: Catalogue, venue: ResolvedVenue, mode: ModeConfig) -> ContractFactory:
    """The staking venue of the mode's token; with reward tokens (ether.fi), their distribution series
    (``<REWARD>_rewards`` / ``<REWARD>_topups`` of the venue's simulation series) and the base token
    they are paid per."""
    config: Any = venue.config
    token = config.lst
    source = _source(venue, f"{token}_rate")
    wiring.add_series(catalogue, source.path)
    _note_proxy(wiring, venue.name, f"{token}_rate", source)
    delay = float(config.transfers.withdrawal_delay_seconds)
    rewards = reward_tokens(mode) if token == mode.lst_type else ()
    for reward in rewards:
        for name in (f"{reward}_rewards", f"{reward}_topups"):
            if name in venue.series:
                wiring.add_series(catalogue, venue.series[name].path)
    base_token = str(getattr(config, "base_token", "") or "") if rewards else ""

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> OnChainGateway:
        return SimulatedStaking(
            bus,
            clock,
            ids,
            venue=venue.name,
            token=token,
            rate_venue=catalogue.for_path(source.path).venue,
            unstake_delay_s=delay,
            base_token=base_token,
            gas_units=dict(config.gas),
        )

    return make


def _dex(wiring: Wiring, catalogue: Catalogue, venue: ResolvedVenue, mode: ModeConfig) -> ContractFactory:
    """Uniswap as the staking modes use it: the pool of the staking token against WETH, priced at the
    token's exchange rate (the issuer's rate series), in the configured LST fee tier; and the pool of
    each reward token against WETH (``<REWARD>WETH_swap``, its bars) in the default fee tier, where the
    reward tokens are sold."""
    config: Any = venue.config
    lst, issuer = mode.lst_type, mode.venues.staking
    rate_pools = {f"{lst}WETH": (str(lst), "WETH")} if lst is not None and issuer is not None else {}
    issuers = {str(lst): str(issuer)} if rate_pools else {}
    pools: dict[str, tuple[str, str]] = {}
    bar_venues: set[str] = set()
    for reward in reward_tokens(mode):
        source = _source(venue, f"{reward}WETH_swap")
        wiring.add_series(catalogue, source.path)
        bars = catalogue.for_path(source.path)
        pools[bars.symbol] = (reward, "WETH")
        bar_venues.add(bars.venue)
    if len(bar_venues) > 1:
        raise BacktestError(f"{venue.name}: the pools' bars come from several venues: {sorted(bar_venues)}")
    gas = {str(op): n for op, n in config.gas.items()}
    fee = config.lst_fee_tier / 1_000_000  # hundredths of a basis point
    pool_fee = config.default_fee_tier / 1_000_000

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> OnChainGateway:
        return SimulatedDex(
            bus,
            clock,
            ids,
            pools=dict(pools),
            venue=venue.name,
            bar_venue=next(iter(bar_venues), ""),
            pool_fee=pool_fee,
            rate_pools=rate_pools,
            rate_pool_fee=fee,
            issuers=issuers,
            depth=dict(config.pool_depth),
            slippage_bps=mode.slippage_bps,
            gas_units=gas,
        )

    return make


def _wallet(wiring: Wiring, catalogue: Catalogue, run: RunConfig, venue: ResolvedVenue) -> ContractFactory:
    wiring.add_series(catalogue, _source(venue, "ETH_gas").path)
    delays: dict[str, float] = {}
    for name, other in run.venues.items():
        if isinstance(other.config, CexVenueConfig):
            delays[name] = float(other.config.transfers.deposit_delay_seconds)
    config: Any = venue.config
    gas = dict(config.gas)
    if "transfer" in gas:
        gas["eth_transfer"] = gas.pop("transfer")

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> OnChainGateway:
        return SimulatedWallet(bus, clock, ids, deposit_delays_s=dict(delays), gas_units=dict(gas))

    return make
