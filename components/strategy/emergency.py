"""Emergency protocols of the hedged staking modes: what is in danger, what could cover it, what is done.

Three protocols, in priority order (:data:`~basis.bus.messages.EmergencyProtocol`); every decision looks
for them before anything else and, when one holds, publishes one
:class:`~basis.bus.messages.EmergencyAction` per protocol and venue in that order, then the decision
that acts on them (caused by the last one), so the log says why before it says what:

1. **CEX margin** (``cex_margin``): a hedge venue's margin ratio below the risk ``margin_ratio_warning``
   (the strategy acts at the warning so that no venue reaches critical). Shortfall: the USDT that brings
   it back to the margin buffer. Sources, in order: the wallet's USDT not owed to investors (sent to the
   venue); the lending venue, if the account's LTV allows a USDT borrow (never in eMode: a USDT debt
   would leave the ETH-correlated category and drop the liquidation threshold of the whole account);
   unstaking, that is selling staked ETH on the DEX and on the spot venue while buying back as many
   shorts (the position is reduced keeping delta neutral): the book is sized again at the current price.
2. **AAVE LTV** (``aave_ltv``, levered modes): the health factor below the risk
   ``health_factor_warning``. Shortfall: the debt (USD) to repay for the LTV to be back at
   ``target_ltv``. Sources: the wallet's ETH (repaid directly when it covers the shortfall); the CEX
   margin above its buffer (listed, not taken: USDT on an exchange becomes WETH on chain only through a
   spot purchase and a transfer, an hour or more, while the repay is due now); unstaking, one flash-loan
   bundle that repays the shortfall and sells as much collateral (the net ETH, and so the hedge, does not
   change).
3. **Imbalance** (``imbalance``): a venue below the strategy's margin floor while another holds more
   than the buffer plus the transfer band. The surplus venue sends what the short one lacks (up to its
   surplus) to the wallet, which sends it on at the next step.

This module holds the pure pieces: :class:`Emergency` (a protocol's finding and the instructions it
calls for) and :func:`take` (sources in order until the shortfall is covered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from basis.bus.messages import AnyAction, EmergencyProtocol, EmergencySource, Transfer

if TYPE_CHECKING:
    from .hedged import HedgedStakingStrategy
    from .view import View

PRIORITY: tuple[EmergencyProtocol, ...] = ("cex_margin", "aave_ltv", "imbalance")


@dataclass(frozen=True)
class Offer:
    """A source a protocol may draw on: what it holds (USD) and whether it can be used now (``usable``,
    else ``note`` says why not)."""

    name: str
    available_usd: float
    note: str
    usable: bool = True


@dataclass(frozen=True)
class Emergency:
    """One protocol's finding on one venue: the event fields, and what acting on it takes: ``orders``
    sent as they are, or ``resize`` (the book sized again at the current price)."""

    protocol: EmergencyProtocol
    trigger: str
    venue: str
    shortfall_usd: float
    sources: tuple[EmergencySource, ...]
    action: str
    orders: tuple[AnyAction, ...] = ()
    resize: bool = False

    @property
    def rank(self) -> int:
        return PRIORITY.index(self.protocol)


def take(shortfall_usd: float, offers: Sequence[Offer]) -> tuple[tuple[EmergencySource, ...], float]:
    """Draw on ``offers`` in order until ``shortfall_usd`` is covered: every offer becomes a source with
    what was taken from it (0 for one not usable); returns them and what is still missing."""
    missing = max(0.0, shortfall_usd)
    sources: list[EmergencySource] = []
    for offer in offers:
        used = min(missing, max(0.0, offer.available_usd)) if offer.usable else 0.0
        missing -= used
        sources.append(
            EmergencySource(
                name=offer.name, available_usd=offer.available_usd, used_usd=used, note=offer.note
            )
        )
    return tuple(sources), missing


# --- the protocols, read off a hedged strategy's book ------------------------------------------------


def margin_emergencies(s: HedgedStakingStrategy, view: View) -> list[Emergency]:
    """``cex_margin`` for every hedge venue below the margin warning (the wallet's USDT is shared out in
    venue order)."""
    p = s.params
    wallet = max(0.0, view.token(p.wallet, p.quote) - view.withdrawing)
    found: list[Emergency] = []
    for venue in p.allocation:
        ratio = s.margin_ratio(view, venue)
        if ratio is None or ratio >= p.margin_warning:
            continue
        notional = abs(view.qty(s.perp_key(venue)) * s.mark(view, venue))
        equity = view.token(venue, p.quote) + s.unrealised(view, venue)
        shortfall = p.margin_buffer * notional - equity
        offers = [
            Offer(p.wallet, wallet, f"{p.quote} in the wallet not owed to investors"),
            s.lending_offer(view),
            Offer(
                "unstake",
                s.staked_units(view) * view.price(p.asset),
                "sell staked ETH and buy back as many shorts (delta neutral): the book is sized again",
            ),
        ]
        sources, missing = take(shortfall, offers)
        from_wallet = sources[0].used_usd
        wallet -= from_wallet
        orders: tuple[AnyAction, ...] = ()
        if from_wallet >= p.min_order_usd:
            orders = (Transfer(source=p.wallet, destination=venue, asset=p.quote, amount=from_wallet),)
        resize = missing + sources[2].used_usd >= p.min_order_usd
        action = " and ".join(
            part
            for part, on in (
                (f"send {from_wallet:,.2f} {p.quote} from the wallet", bool(orders)),
                ("size the book down at the current price", resize),
            )
            if on
        )
        found.append(
            Emergency(
                protocol="cex_margin",
                trigger=f"margin_ratio:{venue} {ratio:.4f} < warning {p.margin_warning:g}",
                venue=venue,
                shortfall_usd=shortfall,
                sources=sources,
                action=action or "nothing to send",
                orders=orders,
                resize=resize,
            )
        )
    return found


def imbalance_emergencies(s: HedgedStakingStrategy, view: View, skip: set[str]) -> list[Emergency]:
    """``imbalance`` for every hedge venue below the margin floor (and not already in ``skip``) while
    another holds more than the buffer plus the transfer band."""
    p = s.params
    floor = p.margin_band[0]
    ceiling = p.margin_buffer * (1.0 + p.transfer_band)
    surplus: dict[str, float] = {}
    short: list[tuple[str, float, float]] = []
    for venue in p.allocation:
        ratio = s.margin_ratio(view, venue)
        if ratio is None:
            continue
        notional = abs(view.qty(s.perp_key(venue)) * s.mark(view, venue))
        equity = view.token(venue, p.quote) + s.unrealised(view, venue)
        if ratio > ceiling:  # what it may send: its USDT above the buffer (never its unrealised gain)
            surplus[venue] = min(view.token(venue, p.quote), equity - p.margin_buffer * notional)
        elif ratio < floor and venue not in skip:
            short.append((venue, ratio, p.margin_buffer * notional - equity))
    found: list[Emergency] = []
    for venue, ratio, shortfall in short:
        offers = [Offer(v, amount, f"{p.quote} above its margin buffer") for v, amount in surplus.items()]
        if not offers:
            continue
        sources, _ = take(shortfall, offers)
        orders = tuple(
            Transfer(source=src.name, destination=p.wallet, asset=p.quote, amount=src.used_usd)
            for src in sources
            if src.used_usd >= p.min_order_usd
        )
        for src in sources:
            surplus[src.name] -= src.used_usd
        if not orders:
            continue
        found.append(
            Emergency(
                protocol="imbalance",
                trigger=f"margin_ratio:{venue} {ratio:.4f} < floor {floor:.4g} while "
                + ", ".join(f"{src.name} holds {src.available_usd:,.2f} above its buffer" for src in sources),
                venue=venue,
                shortfall_usd=shortfall,
                sources=sources,
                action=f"send the surplus to the wallet, on to {venue} at the next step",
                orders=orders,
            )
        )
    return found
