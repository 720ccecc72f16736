"""Venues: trading and protocol parameters, plus one section per execution environment.

One model per kind of venue, chosen by the ``kind`` key of the file:

===========  =====================  ==============================================
kind         venues                 venue-level parameters
===========  =====================  ==============================================
cex          binance, bybit, okx    markets, maker/taker fees, margin, transfers
lending      aave_v3                risk classes (eMode / standard), gas
staking      lido, etherfi          liquid staking token, reward fee, gas, delays
flash_loan   morpho                 flash-loan fee, gas
middleware   instadapp              gas of an atomic bundle beyond its steps
dex          uniswap                fee tiers, gas
rpc          alchemy                gas of plain transfers; RPC endpoints per environment
===========  =====================  ==============================================
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator

from ..errors import Issue
from .base import (
    ENVIRONMENT_NAMES,
    LST_VENUES,
    Fraction,
    LstType,
    NonNegative,
    OpenFraction,
    Positive,
    PositiveFraction,
    StrictModel,
    Symbol,
    Token,
    VenueName,
    fmt,
    raise_issues,
)
from .venue_environment import (
    CHAIN_IDS,
    CexConnection,
    CexSimulation,
    ChainConnection,
    ChainSimulation,
    Environments,
    RpcConnection,
    SimulationFeeds,
)

VenueKind = Literal["cex", "lending", "staking", "flash_loan", "middleware", "dex", "rpc"]

GasOperation = Literal[
    "approve",
    "transfer",
    "erc20_transfer",
    "supply",
    "withdraw",
    "borrow",
    "repay",
    "set_emode",
    "stake",
    "unstake",
    "claim",
    "wrap",
    "unwrap",
    "swap",
    "flash_loan",
    "bundle",
    "build_account",
]
GasUnits = dict[GasOperation, Annotated[int, Field(gt=0)]]
"""Gas units each on-chain operation uses (multiplied by the gas price at execution)."""

NonNegativeInt = Annotated[int, Field(ge=0)]

VENUE_KINDS: Final[dict[VenueName, VenueKind]] = {
    "binance": "cex",
    "bybit": "cex",
    "okx": "cex",
    "aave_v3": "lending",
    "lido": "staking",
    "etherfi": "staking",
    "morpho": "flash_loan",
    "instadapp": "middleware",
    "uniswap": "dex",
    "alchemy": "rpc",
}
"""The kind of each known venue; a venue file must declare the same ``kind``."""


class TransferTerms(StrictModel):
    """Moving assets into and out of the venue: how long it takes and what it costs."""

    deposit_delay_seconds: NonNegativeInt = 0
    withdrawal_delay_seconds: NonNegativeInt = 0
    deposit_fee: dict[str, NonNegative] = Field(default_factory=dict)
    """Flat fee per deposit, per asset, in units of that asset."""
    withdrawal_fee: dict[str, NonNegative] = Field(default_factory=dict)
    """Flat fee per withdrawal, per asset, in units of that asset."""


class VenueBase(StrictModel):
    name: VenueName
    description: str = ""
    kind: VenueKind
    environments: Environments[Any, Any]

    def simulation_feeds(self) -> SimulationFeeds | None:
        section = self.environments.simulation
        assert section is None or isinstance(section, SimulationFeeds)
        return section

    def _common_issues(self) -> list[Issue]:
        issues: list[Issue] = []
        if VENUE_KINDS[self.name] != self.kind:
            issues.append(
                Issue(None, "kind", f"must be {VENUE_KINDS[self.name]} for {self.name}, got {self.kind}")
            )
        for env_name in ENVIRONMENT_NAMES:
            section = self.environments.get(env_name)
            prefix = f"environments.{env_name}"
            if isinstance(section, ChainConnection):
                issues += _chain_issues(section, env_name, prefix)
            if isinstance(section, SimulationFeeds):
                issues += _feed_issues(section, self.name, prefix)
        return issues


def _chain_issues(section: ChainConnection, env_name: str, prefix: str) -> list[Issue]:
    issues: list[Issue] = []
    expected = CHAIN_IDS[section.network]
    if section.chain_id != expected:
        issues.append(
            Issue(
                None,
                f"{prefix}.chain_id",
                f"{section.network} has chain id {expected}, got {section.chain_id}",
            )
        )
    if env_name == "live" and section.network != "mainnet":
        issues.append(Issue(None, f"{prefix}.network", f"live must run on mainnet, got {section.network}"))
    if env_name == "testnet" and section.network == "mainnet":
        issues.append(Issue(None, f"{prefix}.network", "testnet must not run on mainnet"))
    return issues


def _feed_issues(section: SimulationFeeds, venue: str, prefix: str) -> list[Issue]:
    issues: list[Issue] = []
    for key, proxy in section.proxies.items():
        if key in section.series:
            issues.append(Issue(None, f"{prefix}.proxies.{key}", "also listed under series; keep one"))
        if proxy.venue == venue:
            issues.append(Issue(None, f"{prefix}.proxies.{key}.venue", "a proxy must point to another venue"))
    return issues


# --- centralised exchanges ------------------------------------------------------------------------


class TradingFees(StrictModel):
    maker: Fraction
    taker: Fraction


class CexFees(StrictModel):
    """Fees as fractions of traded notional."""

    spot: TradingFees
    perp: TradingFees


class Market(StrictModel):
    venue_symbol: str
    """The exchange's own symbol (``BTC-USDT-SWAP`` on OKX)."""
    contract_size: Positive = 1.0
    """Base-asset units per contract (OKX swaps trade in contracts)."""


class CexMarkets(StrictModel):
    """Markets the platform trades on this exchange, keyed by platform symbol."""

    spot: dict[Symbol, Market] = Field(default_factory=dict)
    perp: dict[Symbol, Market] = Field(default_factory=dict)


class MarginParams(StrictModel):
    """Perpetual margin requirements, as fractions of position notional."""

    initial: OpenFraction
    maintenance: OpenFraction
    funding_interval_hours: Annotated[int, Field(gt=0)] = 8


MARKET_SERIES: Final[dict[str, tuple[str, ...]]] = {"spot": ("spot",), "perp": ("perp", "funding")}
"""Series a simulated exchange needs per market: bars for spot; bars and funding for perps."""


class CexVenueConfig(VenueBase):
    kind: Literal["cex"]
    markets: CexMarkets
    fees: CexFees
    margin: MarginParams
    transfers: TransferTerms = TransferTerms()
    environments: Environments[CexConnection, CexSimulation]

    def has_market(self, market_type: Literal["spot", "perp"], symbol: str) -> bool:
        return symbol in getattr(self.markets, market_type)

    @model_validator(mode="after")
    def _check(self) -> CexVenueConfig:
        issues = self._common_issues()
        if self.margin.maintenance >= self.margin.initial:
            issues.append(
                Issue(
                    None,
                    "margin.maintenance",
                    f"must be below margin.initial ({fmt(self.margin.initial)}), got {fmt(self.margin.maintenance)}",
                )
            )
        for env_name in ("live", "testnet"):
            connection = self.environments.get(env_name)
            if not isinstance(connection, CexConnection):
                continue
            for market_type in ("spot", "perp"):
                if getattr(self.markets, market_type) and getattr(connection, market_type) is None:
                    issues.append(
                        Issue(
                            None,
                            f"environments.{env_name}.{market_type}",
                            f"required because the venue lists {market_type} markets",
                        )
                    )
        simulation = self.environments.simulation
        if simulation is not None:
            for market_type, suffixes in MARKET_SERIES.items():
                for symbol in getattr(self.markets, market_type):
                    for suffix in suffixes:
                        key = f"{symbol}_{suffix}"
                        if key not in simulation.series and key not in simulation.proxies:
                            issues.append(
                                Issue(
                                    None,
                                    f"environments.simulation.series.{key}",
                                    f"missing: {market_type} market {symbol} needs a series or a proxy",
                                )
                            )
        raise_issues(issues)
        return self


# --- lending --------------------------------------------------------------------------------------


class RiskClass(StrictModel):
    ltv: OpenFraction
    """Largest debt / collateral value at which new borrowing is allowed."""
    liquidation_threshold: OpenFraction
    """Debt / collateral value at which the position can be liquidated (health factor 1)."""
    liquidation_bonus: Fraction
    """Discount a liquidator receives on seized collateral."""


RiskClassName = Literal["emode", "standard"]


class LendingRiskParams(StrictModel):
    emode: RiskClass
    """The ETH-correlated eMode category (LST collateral against WETH debt)."""
    emode_category_id: Annotated[int, Field(ge=1)]
    emode_assets: Annotated[list[Token], Field(min_length=1)]
    """The assets of the eMode category: collateral counted at the eMode parameters when every debt is
    one of them, and the only assets that may be borrowed in eMode."""
    standard: RiskClass
    close_factor: PositiveFraction
    """Largest share of a debt a single liquidation may repay."""
    reserve_factors: dict[str, Fraction] = Field(default_factory=dict)
    flash_loan_premium: Fraction = 0.0


class LendingVenueConfig(VenueBase):
    kind: Literal["lending"]
    risk_params: LendingRiskParams
    gas: GasUnits
    transfers: TransferTerms = TransferTerms()
    environments: Environments[ChainConnection, ChainSimulation]

    def risk_class(self, name: RiskClassName) -> RiskClass:
        risk_class: RiskClass = getattr(self.risk_params, name)
        return risk_class

    @model_validator(mode="after")
    def _check(self) -> LendingVenueConfig:
        issues = self._common_issues()
        for class_name in ("emode", "standard"):
            risk_class = self.risk_class(class_name)
            if risk_class.ltv >= risk_class.liquidation_threshold:
                issues.append(
                    Issue(
                        None,
                        f"risk_params.{class_name}.ltv",
                        f"must be below liquidation_threshold ({fmt(risk_class.liquidation_threshold)}), "
                        f"got {fmt(risk_class.ltv)}",
                    )
                )
        raise_issues(issues)
        return self


# --- staking --------------------------------------------------------------------------------------


class StakingVenueConfig(VenueBase):
    kind: Literal["staking"]
    lst: LstType
    """The liquid staking token this venue issues (what the position is held in)."""
    base_token: str
    """The rebasing token the LST wraps (stETH, eETH)."""
    protocol_reward_fee: Fraction
    """Share of staking rewards the protocol keeps."""
    gas: GasUnits
    transfers: TransferTerms = TransferTerms()
    """Deposit = stake, withdrawal = unstake through the protocol's withdrawal queue."""
    environments: Environments[ChainConnection, ChainSimulation]

    @model_validator(mode="after")
    def _check(self) -> StakingVenueConfig:
        issues = self._common_issues()
        issued = {venue: lst for lst, venue in LST_VENUES.items()}.get(self.name)
        if issued is not None and self.lst != issued:
            issues.append(Issue(None, "lst", f"must be {issued} for {self.name}, got {self.lst}"))
        raise_issues(issues)
        return self


# --- flash loans, middleware, DEX, RPC ------------------------------------------------------------


class FlashLoanVenueConfig(VenueBase):
    kind: Literal["flash_loan"]
    flash_loan_fee: Fraction
    gas: GasUnits
    environments: Environments[ChainConnection, ChainSimulation]

    @model_validator(mode="after")
    def _check(self) -> FlashLoanVenueConfig:
        raise_issues(self._common_issues())
        return self


class MiddlewareVenueConfig(VenueBase):
    kind: Literal["middleware"]
    gas: GasUnits
    environments: Environments[ChainConnection, ChainSimulation]

    @model_validator(mode="after")
    def _check(self) -> MiddlewareVenueConfig:
        raise_issues(self._common_issues())
        return self


class DexVenueConfig(VenueBase):
    kind: Literal["dex"]
    fee_tiers: list[Annotated[int, Field(gt=0)]]
    """Pool fee tiers in hundredths of a basis point (3000 = 0.30%)."""
    default_fee_tier: int
    lst_fee_tier: int = 100
    """Fee tier of the pools of liquid staking tokens against WETH (weETH/WETH, wstETH/WETH: 0.01%)."""
    pool_depth: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    """Active liquidity on each side of a pool, in the pool's quote asset, by pool symbol (``weETHWETH``):
    sizes the simulated price impact of a swap (a pool without one has none)."""
    gas: GasUnits
    environments: Environments[ChainConnection, ChainSimulation]

    @model_validator(mode="after")
    def _check(self) -> DexVenueConfig:
        issues = self._common_issues()
        for key in ("default_fee_tier", "lst_fee_tier"):
            tier = getattr(self, key)
            if tier not in self.fee_tiers:
                issues.append(Issue(None, key, f"must be one of fee_tiers, got {tier}"))
        raise_issues(issues)
        return self


class RpcVenueConfig(VenueBase):
    kind: Literal["rpc"]
    gas: GasUnits
    environments: Environments[RpcConnection, ChainSimulation]

    @model_validator(mode="after")
    def _check(self) -> RpcVenueConfig:
        raise_issues(self._common_issues())
        return self


VenueConfig = (
    CexVenueConfig
    | LendingVenueConfig
    | StakingVenueConfig
    | FlashLoanVenueConfig
    | MiddlewareVenueConfig
    | DexVenueConfig
    | RpcVenueConfig
)

VENUE_MODELS: Final[dict[VenueKind, type[VenueConfig]]] = {
    "cex": CexVenueConfig,
    "lending": LendingVenueConfig,
    "staking": StakingVenueConfig,
    "flash_loan": FlashLoanVenueConfig,
    "middleware": MiddlewareVenueConfig,
    "dex": DexVenueConfig,
    "rpc": RpcVenueConfig,
}
