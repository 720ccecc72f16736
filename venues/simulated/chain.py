"""One simulated chain: every on-chain venue of a run in one component (``sim-chain``).

On Ethereum the wallet, AAVE, Lido, ether.fi, Uniswap and the bundle venue's smart account are contracts
of one state machine, and one transaction may call several of them. The simulated chain keeps that
shape: it hosts the on-chain gateways of a run (each still answers ``cmd.<venue>.*`` and publishes
``evt.<venue>.*`` as its own venue) on one bus connection, one clock and one id factory, and gives the
bundle venue (:mod:`.bundle`) the same gateway objects as its contracts. A bundle that supplies to AAVE
and stakes through Lido therefore changes the very state the standalone AAVE and Lido gateways keep;
there is no second copy to drift. Run as a process, the chain is one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory

from .onchain import OnChainGateway

CHAIN = "sim-chain"
"""The component name of the simulated chain."""

ContractFactory = Callable[[Bus, Clock, IdFactory], OnChainGateway]
"""Builds one on-chain gateway on the chain's bus, clock and ids."""
BundlerFactory = Callable[[Bus, Clock, IdFactory, Mapping[str, OnChainGateway]], OnChainGateway]
"""Builds the bundle venue's gateway over the other gateways of the chain, by venue token."""


class SimulatedChain(Component):
    """The on-chain gateways of a run, started together in the order given, the bundle venue last."""

    name = CHAIN

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        contracts: Sequence[ContractFactory],
        bundler: BundlerFactory | None = None,
    ) -> None:
        super().__init__(bus, clock, ids)
        self.gateways: list[OnChainGateway] = [make(bus, clock, ids) for make in contracts]
        if bundler is not None:
            self.gateways.append(bundler(bus, clock, ids, {g.venue: g for g in self.gateways}))

    def gateway(self, venue: str) -> OnChainGateway:
        """The gateway of ``venue`` (KeyError when the chain has none)."""
        for gateway in self.gateways:
            if gateway.venue == venue:
                return gateway
        raise KeyError(venue)

    @property
    def venues(self) -> list[str]:
        return [g.venue for g in self.gateways]

    async def on_start(self) -> None:
        for gateway in self.gateways:  # their subscriptions only: the chain answers pings as one
            await gateway.on_start()

    def balances(self) -> dict[str, float]:
        """The balances every venue of the chain books, by instrument key."""
        out: dict[str, float] = {}
        for gateway in self.gateways:
            out |= gateway.balances()
        return dict(sorted(out.items()))
