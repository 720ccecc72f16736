"""Simulated liquid staking (Lido wstETH, ether.fi weETH).

* ``Stake(token, amount)``: ``wallet:BaseToken:ETH −amount``, ``wallet:BaseToken:<token> +amount / rate``
  at the latest ``LstRate`` (ETH per token), gas.
* ``Unstake(token, amount)``: ``wallet:BaseToken:<token> −amount`` and gas now; the ETH
  (``amount × rate`` at the request, as the withdrawal queue fixes it) arrives ``unstake_delay_s`` of
  simulated time later as ``TransferCompleted(source=<venue>, destination="wallet", asset="ETH")``.

The staking return accrues through the rate (the token is valued at rate × ETH price), so no settlement
is published.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import replace

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import Action, ClockTicked, Fill, Instruction, LstRate, Stake, Unstake

from ..errors import NoPrice, UnknownInstrument, UnsupportedInstruction
from ..gateway import Execution
from .ledger import Balances, positive
from .onchain import ETH_KEY, WALLET, GasMeter, OnChainGateway, wallet_key
from .pending import Arrival, Arrivals, seconds_to_ns

DEFAULT_GAS: dict[str, int] = {"stake": 120_000, "unstake": 150_000}


class StakingPool:
    """One liquid staking token and its exchange rate. No I/O."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.key = wallet_key(token)
        self.rate: float | None = None

    def on_rate(self, message: LstRate) -> None:
        if message.token == self.token and message.rate > 0.0:
            self.rate = message.rate

    def _rate(self, token: str) -> float:
        if token != self.token:
            raise UnknownInstrument(f"this venue stakes into {self.token}, not {token}")
        if self.rate is None:
            raise NoPrice(f"no exchange rate for {self.token} yet")
        return self.rate

    def stake(self, token: str, amount: float, gas_eth: float) -> Execution:
        rate, amount = self._rate(token), positive(amount, "amount")
        changes = (
            Fill(instrument=ETH_KEY, delta=-amount),
            Fill(instrument=self.key, delta=amount / rate, price=rate),
            GasMeter.change(gas_eth),
        )
        return Execution(changes=changes, gas_eth=gas_eth)

    def unstake(self, token: str, amount: float, gas_eth: float) -> tuple[Execution, float]:
        """The request's fill and the ETH it will redeem."""
        rate, amount = self._rate(token), positive(amount, "amount")
        changes = (Fill(instrument=self.key, delta=-amount, price=rate), GasMeter.change(gas_eth))
        return Execution(changes=changes, gas_eth=gas_eth), amount * rate


class SimulatedStaking(OnChainGateway):
    """Gateway of a simulated staking venue (``cmd.<venue>.{stake,unstake}``) for one token.

    The rate comes from ``md.lst.<rate_venue>.<token>`` (``rate_venue`` defaults to the venue).
    """

    default_gas = DEFAULT_GAS

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        venue: str,
        token: str,
        rate_venue: str = "",
        unstake_delay_s: float = 0.0,
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
        self.pool = StakingPool(token)
        self.rate_venue = rate_venue or venue
        self.unstake_delay_ns = seconds_to_ns(unstake_delay_s)
        self.arrivals = Arrivals()

    async def on_start_venue(self) -> None:
        subject = subjects.md("lst", self.rate_venue, self.pool.token)
        await self.bus.subscribe(subject, self.on_rate, types=(LstRate,))
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    def on_rate(self, message: LstRate) -> None:
        self.pool.on_rate(message)

    def perform(self, action: Action, wallet: Balances) -> Execution:
        if isinstance(action, Stake):
            self.require_wallet("ETH", positive(action.amount, "amount"), wallet)
            return self.pool.stake(action.token, action.amount, self.gas_cost("stake"))
        if isinstance(action, Unstake):
            raise UnsupportedInstruction(
                f"{self.venue}: an unstake pays out through the withdrawal queue, later: it cannot be a "
                "step of a bundle (swap the token instead)"
            )
        return super().perform(action, wallet)

    async def execute(self, instruction: Instruction) -> None:
        unstake = instruction.action
        if not isinstance(unstake, Unstake):
            await super().execute(instruction)
            return
        self.require_wallet(unstake.token, positive(unstake.amount, "amount"))
        execution, eth = self.pool.unstake(unstake.token, unstake.amount, self.gas_cost("unstake"))
        arrival = Arrival(
            due_ns=self.clock.now_ns() + self.unstake_delay_ns,
            cause=instruction,
            source=self.venue,
            destination=WALLET,
            asset="ETH",
            amount=eth,
            fee=0.0,
            changes=(Fill(instrument=ETH_KEY, delta=eth),),
            departed=eth,
        )
        self.arrivals.add(arrival)
        execution = replace(execution, changes=(*execution.changes, arrival.departure()))
        await self.fill(instruction, execution)
        if self.unstake_delay_ns == 0:
            await self.arrivals.release(self, self.clock.now_ns())

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """Release the arrivals due (a coroutine for the bus to await only when one is)."""
        return self.arrivals.release_due(self, tick.ts)
