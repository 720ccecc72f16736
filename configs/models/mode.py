"""Strategy modes: what a fund does, and the parameters it does it with.

The venues a mode needs are derived from its flags, allocations and routing (:meth:`ModeConfig.required_venues`),
never listed by hand.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator

from ..errors import Issue
from .base import (
    LST_VENUES,
    VENUE_NAMES,
    Asset,
    CexVenueName,
    Fraction,
    LstType,
    Name,
    NonNegative,
    OpenFraction,
    Positive,
    PositiveFraction,
    ShareClassName,
    StrictModel,
    Symbol,
    VenueName,
    fmt,
    raise_issues,
)
from .venue import RiskClassName

ActionType = Literal["hedge", "spot", "lending", "staking", "flash_loan", "unwind", "wallet_transfer"]

DEFAULT_HEDGE_ALLOCATION: Final[dict[CexVenueName, float]] = {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
ALLOCATION_TOLERANCE: Final = 1e-9
ATOMIC_MIDDLEWARE: Final[VenueName] = "instadapp"
"""Leveraged entries and exits run as one atomic bundle through this venue."""
UNWIND_DEX: Final[VenueName] = "uniswap"
"""Where a leveraged staking position sells its token for WETH inside an unwinding bundle (an unstake
pays out days later, too late for a flash loan)."""
REWARD_PAYING_LSTS: Final = frozenset({"weETH"})
"""Liquid staking tokens whose holders receive reward tokens (ether.fi: EIGEN, ETHFI), sold on
:data:`UNWIND_DEX` once above the dust threshold."""


class RiskThresholds(StrictModel):
    """When the risk monitor warns, and when it forces a position reduction."""

    margin_ratio_warning: PositiveFraction = 0.30
    margin_ratio_critical: PositiveFraction = 0.20
    """CEX margin ratio (equity / position notional) below which positions are reduced."""
    health_factor_warning: Annotated[float, Field(gt=1)] = 1.15
    health_factor_critical: Annotated[float, Field(gt=1)] = 1.10
    """AAVE health factor below which the leveraged position is reduced."""
    delta_drift_warning: PositiveFraction = 0.03
    delta_drift_critical: PositiveFraction = 0.05
    """Net delta as a fraction of equity above which hedges are adjusted."""


class MlConfig(StrictModel):
    """ML-signal perpetual trading: one perp, full-equity positions, SD-based take-profit and stop-loss."""

    venue: CexVenueName = "binance"
    symbol: Symbol = "BTCUSDT"
    candle_interval: Literal["1m", "5m", "15m", "1h"] = "5m"
    signal_threshold: PositiveFraction = 0.7
    """Minimum signal confidence to open a position."""
    max_position_size: PositiveFraction = 1.0
    """Position notional as a fraction of equity."""
    take_profit_sd: Positive = 2.0
    stop_loss_sd: Positive = 2.0
    sd_floor_bps: Positive = 10.0
    sd_cap_bps: Positive = 1000.0


class ActionVenues(StrictModel):
    """Where each action type executes. Hedges are routed by ``hedge_allocation`` instead, and
    ``staking`` defaults to the venue that issues ``lst_type``."""

    spot: Literal["binance", "bybit", "okx", "uniswap"] | None = None
    lending: Literal["aave_v3"] | None = None
    staking: Literal["lido", "etherfi"] | None = None
    flash_loan: Literal["morpho"] | None = None
    unwind: Literal["instadapp"] | None = None
    wallet_transfer: Literal["alchemy"] | None = None


class ModeConfig(StrictModel):
    """``configs/modes/<name>.yaml``."""

    name: Name
    description: str = ""
    aliases: list[Name] = Field(default_factory=list)
    """Older names that load this mode."""

    share_class: ShareClassName
    asset: Asset
    market_neutral: bool | None = None
    """Overrides the share class's ``market_neutral`` (ML modes trade directionally in any class)."""

    lending_enabled: bool = False
    staking_enabled: bool = False
    basis_trade_enabled: bool = False
    borrowing_enabled: bool = False

    lst_type: LstType | None = None
    hedge_venues: list[CexVenueName] = Field(default_factory=list)
    hedge_allocation: dict[CexVenueName, Fraction] = Field(default_factory=dict)
    """Share of the perp hedge per venue; 0 keeps a venue configured but unused."""
    stake_allocation_percentage: OpenFraction | None = None
    """Share of equity staked on-chain when the rest is kept as CEX margin for the hedge."""
    target_ltv: OpenFraction | None = None
    max_ltv: OpenFraction | None = None
    unwind_via: Literal["dex", "queue"] = "dex"
    """How a hedged staking mode turns its staking token back into ETH: sold on the DEX at once (pool fee
    and slippage), or redeemed through the protocol's withdrawal queue (no fee; days in transit, hedged)."""

    position_deviation_threshold: PositiveFraction = 0.02
    """Relative deviation from the target position that triggers a rebalance."""
    transfer_band: Fraction = 0.1
    """How far a venue's balance may drift from what it should hold (a fraction of that amount) before the
    strategy moves cash to or from it: every transfer pays gas or a withdrawal fee."""
    risk: RiskThresholds = RiskThresholds()
    dust_threshold: Fraction = 0.001
    """Value of reward tokens, as a fraction of equity, above which they are sold into the share class."""
    target_apy: NonNegative | None = None
    max_drawdown: PositiveFraction | None = None

    initial_capital: Positive
    """Default starting equity, in share-class units."""
    slippage_bps: NonNegative = 0.0
    """Slippage a simulated venue applies to market orders."""

    venues: ActionVenues = ActionVenues()
    ml_config: MlConfig | None = None

    # --- derived ----------------------------------------------------------------------------------

    @property
    def is_ml(self) -> bool:
        return self.ml_config is not None

    @property
    def leveraged(self) -> bool:
        """Borrowing against staked collateral (flash-loan leverage loop)."""
        return self.borrowing_enabled and self.staking_enabled

    @property
    def bundle_venue(self) -> VenueName | None:
        """The venue that executes this mode's atomic bundles (flash-loan steps included), if it has any."""
        return ATOMIC_MIDDLEWARE if self.leveraged else None

    @property
    def on_chain(self) -> bool:
        return (
            self.lending_enabled
            or self.borrowing_enabled
            or self.staking_enabled
            or self.venues.spot == "uniswap"
        )

    @property
    def instrument(self) -> str:
        """The spot and perp symbol the basis trade uses."""
        return f"{self.asset}USDT"

    @property
    def active_hedge_allocation(self) -> dict[CexVenueName, float]:
        return {venue: share for venue, share in self.hedge_allocation.items() if share > 0}

    @property
    def staking_venue(self) -> VenueName | None:
        return LST_VENUES[self.lst_type] if self.staking_enabled and self.lst_type else None

    @property
    def aave_risk_class(self) -> RiskClassName | None:
        """eMode when LST collateral backs WETH debt, the standard class otherwise; None without borrowing."""
        if not self.borrowing_enabled:
            return None
        return "emode" if self.staking_enabled else "standard"

    def action_venues(self) -> dict[ActionType, str | dict[CexVenueName, float] | None]:
        """Action type -> venue; ``hedge`` maps to the allocation over the venues actually used."""
        venues = self.venues
        return {
            "hedge": self.active_hedge_allocation or None,
            "spot": venues.spot,
            "lending": venues.lending,
            "staking": venues.staking,
            "flash_loan": venues.flash_loan,
            "unwind": venues.unwind,
            "wallet_transfer": venues.wallet_transfer,
        }

    def required_venues(self) -> tuple[VenueName, ...]:
        """Every venue a run of this mode talks to, in canonical venue order."""
        needed: set[str | None] = set()
        if self.basis_trade_enabled:
            needed.add(self.venues.spot)
            needed.update(self.active_hedge_allocation)
        if self.lending_enabled or self.borrowing_enabled:
            needed.add(self.venues.lending)
        if self.staking_enabled:
            needed.add(self.staking_venue)
        if self.leveraged:
            needed.update((self.venues.flash_loan, ATOMIC_MIDDLEWARE, self.venues.unwind, UNWIND_DEX))
        if self.staking_enabled and self.lst_type in REWARD_PAYING_LSTS:
            needed.add(UNWIND_DEX)  # where the reward tokens are sold
        if self.ml_config is not None:
            needed.add(self.ml_config.venue)
        if self.on_chain or self.venues.wallet_transfer:
            needed.add(self.venues.wallet_transfer or "alchemy")
        return tuple(venue for venue in VENUE_NAMES if venue in needed)

    # --- rules ------------------------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Hedges default to DEFAULT_HEDGE_ALLOCATION; the staking venue follows lst_type."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("basis_trade_enabled") is True:
            data.setdefault("hedge_allocation", dict(DEFAULT_HEDGE_ALLOCATION))
            if isinstance(data["hedge_allocation"], dict):
                data.setdefault("hedge_venues", list(data["hedge_allocation"]))
        lst_type = data.get("lst_type")
        venues = data.get("venues", {})
        if data.get("staking_enabled") is True and lst_type in LST_VENUES and isinstance(venues, dict):
            data["venues"] = {"staking": LST_VENUES[lst_type], **venues}
        return data

    @model_validator(mode="after")
    def _check(self) -> ModeConfig:
        issues = [
            *self._strategy_issues(),
            *self._hedge_issues(),
            *self._leverage_issues(),
            *self._routing_issues(),
            *self._risk_issues(),
            *self._ml_issues(),
        ]
        if self.name in self.aliases:
            issues.append(Issue(None, "aliases", f"must not contain the mode's own name {self.name}"))
        raise_issues(issues)
        return self

    def _strategy_issues(self) -> list[Issue]:
        issues: list[Issue] = []
        if not (self.lending_enabled or self.staking_enabled or self.basis_trade_enabled or self.is_ml):
            issues.append(
                Issue(None, "", "a mode must enable lending, staking or the basis trade, or set ml_config")
            )
        if self.borrowing_enabled and not self.lending_enabled:
            issues.append(
                Issue(None, "borrowing_enabled", "requires lending_enabled (collateral is supplied first)")
            )
        if self.staking_enabled and self.lst_type is None:
            issues.append(Issue(None, "lst_type", "required when staking_enabled is true"))
        if not self.staking_enabled and self.lst_type is not None:
            issues.append(Issue(None, "lst_type", "must be null when staking_enabled is false"))
        hedged_staking = self.staking_enabled and self.basis_trade_enabled
        if hedged_staking and self.stake_allocation_percentage is None:
            issues.append(
                Issue(
                    None,
                    "stake_allocation_percentage",
                    "required when staking_enabled and basis_trade_enabled are true",
                )
            )
        if not hedged_staking and self.stake_allocation_percentage is not None:
            issues.append(
                Issue(
                    None,
                    "stake_allocation_percentage",
                    "must be null unless staking_enabled and basis_trade_enabled are true",
                )
            )
        return issues

    def _hedge_issues(self) -> list[Issue]:
        issues: list[Issue] = []
        if not self.basis_trade_enabled:
            if self.hedge_allocation:
                issues.append(
                    Issue(None, "hedge_allocation", "must be empty when basis_trade_enabled is false")
                )
            if self.hedge_venues:
                issues.append(Issue(None, "hedge_venues", "must be empty when basis_trade_enabled is false"))
            return issues
        total = sum(self.hedge_allocation.values())
        if abs(total - 1.0) > ALLOCATION_TOLERANCE:
            issues.append(Issue(None, "hedge_allocation", f"must sum to 1, got {fmt(total)}"))
        if sorted(self.hedge_venues) != sorted(self.hedge_allocation):
            issues.append(
                Issue(
                    None,
                    "hedge_venues",
                    f"must list the venues of hedge_allocation ({', '.join(self.hedge_allocation) or 'none'}), "
                    f"got {', '.join(self.hedge_venues) or 'none'}",
                )
            )
        return issues

    def _leverage_issues(self) -> list[Issue]:
        issues: list[Issue] = []
        for field in ("target_ltv", "max_ltv"):
            value = getattr(self, field)
            if self.borrowing_enabled and value is None:
                issues.append(Issue(None, field, "required when borrowing_enabled is true"))
            if not self.borrowing_enabled and value is not None:
                issues.append(Issue(None, field, "must be null when borrowing_enabled is false"))
        if self.target_ltv is not None and self.max_ltv is not None and self.target_ltv >= self.max_ltv:
            issues.append(
                Issue(
                    None,
                    "target_ltv",
                    f"must be below max_ltv ({fmt(self.max_ltv)}), got {fmt(self.target_ltv)}",
                )
            )
        return issues

    def _routing_issues(self) -> list[Issue]:
        issues: list[Issue] = []
        lending = self.lending_enabled or self.borrowing_enabled
        leveraged_when = "borrowing_enabled and staking_enabled are true"
        leveraged_unless = "borrowing_enabled and staking_enabled are not both true"
        # action, used by the mode, when it is used, when it is not
        rules: tuple[tuple[str, bool, str, str], ...] = (
            ("spot", self.basis_trade_enabled, "basis_trade_enabled is true", "basis_trade_enabled is false"),
            (
                "lending",
                lending,
                "lending_enabled or borrowing_enabled is true",
                "lending_enabled and borrowing_enabled are false",
            ),
            ("staking", self.staking_enabled, "staking_enabled is true", "staking_enabled is false"),
            ("flash_loan", self.leveraged, leveraged_when, leveraged_unless),
            ("unwind", self.leveraged, leveraged_when, leveraged_unless),
        )
        for action, used, when, unless in rules:
            venue = getattr(self.venues, action)
            # a staking venue cannot be derived without lst_type, which is reported on its own
            derivable = action != "staking" or self.lst_type is not None
            if used and venue is None and derivable:
                issues.append(Issue(None, f"venues.{action}", f"required when {when}"))
            if not used and venue is not None:
                issues.append(Issue(None, f"venues.{action}", f"must be null when {unless}"))
        if self.on_chain and self.venues.wallet_transfer is None:
            issues.append(Issue(None, "venues.wallet_transfer", "required when the mode acts on-chain"))
        expected = self.staking_venue
        if expected is not None and self.venues.staking is not None and self.venues.staking != expected:
            issues.append(
                Issue(
                    None,
                    "venues.staking",
                    f"must be {expected} for lst_type {self.lst_type}, got {self.venues.staking}",
                )
            )
        return issues

    def _risk_issues(self) -> list[Issue]:
        risk = self.risk
        issues: list[Issue] = []
        if risk.margin_ratio_warning <= risk.margin_ratio_critical:
            issues.append(
                Issue(
                    None,
                    "risk.margin_ratio_warning",
                    f"must be above margin_ratio_critical ({fmt(risk.margin_ratio_critical)}), "
                    f"got {fmt(risk.margin_ratio_warning)}",
                )
            )
        if risk.health_factor_warning <= risk.health_factor_critical:
            issues.append(
                Issue(
                    None,
                    "risk.health_factor_warning",
                    f"must be above health_factor_critical ({fmt(risk.health_factor_critical)}), "
                    f"got {fmt(risk.health_factor_warning)}",
                )
            )
        if risk.delta_drift_warning >= risk.delta_drift_critical:
            issues.append(
                Issue(
                    None,
                    "risk.delta_drift_warning",
                    f"must be below delta_drift_critical ({fmt(risk.delta_drift_critical)}), "
                    f"got {fmt(risk.delta_drift_warning)}",
                )
            )
        return issues

    def _ml_issues(self) -> list[Issue]:
        ml = self.ml_config
        if ml is None:
            return []
        issues: list[Issue] = []
        if self.lending_enabled or self.staking_enabled or self.basis_trade_enabled or self.borrowing_enabled:
            issues.append(
                Issue(
                    None,
                    "ml_config",
                    "an ML mode trades one perp; lending, staking, basis trade and borrowing must be off",
                )
            )
        if ml.sd_floor_bps >= ml.sd_cap_bps:
            issues.append(
                Issue(
                    None,
                    "ml_config.sd_floor_bps",
                    f"must be below sd_cap_bps ({fmt(ml.sd_cap_bps)}), got {fmt(ml.sd_floor_bps)}",
                )
            )
        return issues
