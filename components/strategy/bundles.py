"""The two atomic bundles of leveraged staking, shared by every mode that levers a liquid staking token on
a lending venue (``eth_leveraged``, ``usdt_eth_staking_hedged_leveraged``).

* :func:`lever_up`: flash-borrow ``borrow`` WETH, stake it with ``free`` ETH of the wallet, supply the
  token minted, borrow ``borrow`` WETH against it; the loan is repaid from the borrow. The first entry
  (no collateral yet) sets the pool's eMode category first.
* :func:`deleverage`: flash-borrow ``repay`` WETH, repay it, withdraw enough of the token that selling it
  on the DEX returns ``repay`` plus ``owed`` (with ``unwind_cost`` and the pool's expected price impact
  to spare for its fee and slippage, :func:`sale_terms`), sell it; the loan is repaid from the sale and what is left stays in the wallet.

Either happens whole or not at all (the bundle venue runs the steps inside the flash loan). The parameters
they need that a mode's configuration sets come from :func:`lever_fields` (the target LTV and the venues)
and :func:`sale_fields` (the selling terms), whichever strategy class the mode has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from basis.bus.messages import (
    AtomicBundle,
    Borrow,
    FlashLoan,
    Repay,
    SetEMode,
    Stake,
    Step,
    StepAction,
    Supply,
    Swap,
    Withdraw,
)

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig

BORROWED = "WETH"
EXIT_MARGIN = 1e-4
"""Extra fraction of the debt a full exit asks to repay (about a day of interest at 3% a year): the
pool caps a repay at what is owed, so the exit repays interest accrued after the book last saw it."""


class SaleTerms(Protocol):
    """What selling the token on the DEX needs (every staking parameter type that sells has it)."""

    @property
    def unwind_cost(self) -> float: ...
    @property
    def max_slippage_bps(self) -> float: ...
    @property
    def pool_depth(self) -> float: ...


class LeverageTerms(SaleTerms, Protocol):
    """The parameters the bundles need (both leveraged parameter types have them)."""

    @property
    def token(self) -> str: ...
    @property
    def lending_venue(self) -> str: ...
    @property
    def staking_venue(self) -> str: ...
    @property
    def flash_lender(self) -> str: ...
    @property
    def dex_venue(self) -> str: ...
    @property
    def emode_category(self) -> int: ...


def lever_fields(mode: ModeConfig) -> dict[str, float | str | None]:
    """The levering parameters a mode configuration sets: its ``target_ltv`` and the venues the bundles
    are sent to (lending, staking, flash loan); None where the mode leaves one unset."""
    venues = mode.venues
    return {
        "target_ltv": mode.target_ltv,
        "lending_venue": venues.lending,
        "staking_venue": venues.staking,
        "flash_lender": venues.flash_loan,
    }


def sale_fields(slippage_bps: float) -> dict[str, float]:
    """The selling parameters a mode with the venues' flat ``slippage_bps`` gets: the slippage limit (four
    times it, at least 10 bps) and the extra fraction sold (the pool fee and twice the slippage)."""
    return {
        "max_slippage_bps": max(slippage_bps * 4.0, 10.0),
        "unwind_cost": 0.001 + 2.0 * slippage_bps / 10_000.0,
    }


def sale_terms(p: SaleTerms, value: float) -> tuple[float, float]:
    """``(extra, limit_bps)`` of selling the token for ``value`` ETH on the DEX: the extra fraction of the
    token to sell (``unwind_cost`` and twice the pool's expected price impact ``value / (depth + value)``,
    :mod:`basis.venues.simulated.dex`) and the slippage limit (``max_slippage_bps`` above that impact)."""
    impact = value / (p.pool_depth + value) if p.pool_depth > 0.0 and value > 0.0 else 0.0
    return p.unwind_cost + 2.0 * impact, p.max_slippage_bps + impact / 1e-4


def lever_up(p: LeverageTerms, rate: float, *, borrow: float, free: float, first: bool) -> AtomicBundle:
    """Stake ``borrow + free`` ETH at ``rate`` (ETH per token), supply the token, borrow ``borrow`` WETH."""
    stake = borrow + free
    minted = stake / rate  # as the staking venue mints at the same rate
    steps: list[Step] = []
    if first:
        steps.append(Step(venue=p.lending_venue, action=SetEMode(category=p.emode_category)))
    steps += [
        Step(venue=p.staking_venue, action=Stake(token=p.token, amount=stake)),
        Step(venue=p.lending_venue, action=Supply(asset=p.token, amount=minted)),
    ]
    if borrow <= 0.0:
        return AtomicBundle(steps=tuple(steps))
    steps.append(Step(venue=p.lending_venue, action=Borrow(asset=BORROWED, amount=borrow)))
    loan = FlashLoan(venue=p.flash_lender, asset=BORROWED, amount=borrow)
    return AtomicBundle(steps=tuple(steps), flash_loan=loan)


def deleverage(
    p: LeverageTerms,
    rate: float,
    *,
    collateral: float,
    repay: float,
    owed: float,
    fronted: float = 0.0,
    full: bool = False,
) -> AtomicBundle:
    """Repay ``repay`` WETH and sell enough of the ``collateral`` (token units) for ``repay + owed`` ETH;
    ``fronted`` is gas the wallet has fronted (its ETH below zero), which the loan also covers."""
    if full:  # the debt has grown since it was last booked: ask for more, the pool repays what is owed
        repay *= 1.0 + EXIT_MARGIN
    extra, limit = sale_terms(p, repay + owed)
    sell = min(collateral, (repay + owed) / rate * (1.0 + extra))
    actions: list[StepAction] = []
    if repay > 0.0:
        actions.append(Repay(asset=BORROWED, amount=repay))
    actions.append(Withdraw(asset=p.token, amount=sell))
    swap = Swap(sell_asset=p.token, buy_asset=BORROWED, amount=sell, max_slippage_bps=limit)
    steps = tuple(Step(venue=p.lending_venue, action=a) for a in actions)
    steps += (Step(venue=p.dex_venue, action=swap),)
    if repay <= 0.0:
        return AtomicBundle(steps=steps)
    loan = FlashLoan(venue=p.flash_lender, asset=BORROWED, amount=repay + max(0.0, fronted))
    return AtomicBundle(steps=steps, flash_loan=loan)
