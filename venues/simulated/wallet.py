"""Simulated on-chain wallet (venue ``wallet``, the operator's account reached through the RPC provider).

* ``InvestorDeposit`` (``cmd.fund.deposit``) → ``FlowBooked(kind="deposit", instrument="wallet:BaseToken:<asset>")``
  with ``request_id`` = the deposit's id.
* ``Transfer(venue="wallet", source="wallet", destination=<investor>, asset, amount)`` → accepted,
  ``FlowBooked(kind="withdrawal", ...)`` (``request_id`` = the transfer's correlation id, i.e. the investor
  withdrawal it serves when the strategy caused it), then a fill whose only change is the gas of the
  token transfer.
* ``Transfer(venue="wallet", source="wallet", destination=<cex>, asset, amount)`` → a fill now (``wallet −amount``
  and gas) and, after that venue's deposit delay (simulated time, released on ``ClockTicked``),
  ``TransferCompleted`` crediting ``<cex>:BaseToken:<asset>``.

``InvestorWithdrawal`` requests are not the wallet's business: the strategy unwinds positions and then
sends a ``Transfer`` to the investor. ETH and WETH are one balance (``wallet:BaseToken:ETH``, see
:mod:`basis.venues.simulated.onchain`). The wallet refuses transfers it cannot fund; its view of its own
balances comes from the events it publishes and every other event on ``evt.>`` that touches a
``wallet:*`` key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping

from basis.bus import instruments as keys
from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import ClockTicked, Fill, FlowBooked, Instruction, InvestorDeposit, Transfer

from ..errors import UnknownDestination
from ..gateway import Execution
from .ledger import positive
from .onchain import WALLET, GasMeter, OnChainGateway, wallet_asset, wallet_key
from .pending import Arrival, Arrivals, seconds_to_ns

log = logging.getLogger("basis.venues.wallet")

INVESTOR = "investor"
DEFAULT_GAS: dict[str, int] = {"erc20_transfer": 65_000, "eth_transfer": 21_000}


class SimulatedWallet(OnChainGateway):
    """Gateway of the simulated wallet: investor flows and transfers out to CEX accounts.

    ``deposit_delays_s`` maps each CEX the wallet may send to onto its deposit delay in seconds.
    """

    default_gas = DEFAULT_GAS

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        deposit_delays_s: Mapping[str, float] | None = None,
        gas_units: Mapping[str, int] | None = None,
        chain: str = "ethereum",
        gas_price_gwei: float | None = None,
        check_wallet_balance: bool = True,
        investor: str = INVESTOR,
        name: str = "",
    ) -> None:
        super().__init__(
            bus,
            clock,
            ids,
            venue=WALLET,
            gas_units=gas_units,
            chain=chain,
            gas_price_gwei=gas_price_gwei,
            check_wallet_balance=check_wallet_balance,
            name=name,
        )
        self.deposit_delays_ns = {venue: seconds_to_ns(s) for venue, s in (deposit_delays_s or {}).items()}
        self.investor = investor
        self.arrivals = Arrivals()

    async def on_start_venue(self) -> None:
        await self.bus.subscribe(
            subjects.cmd("fund", "deposit"), self.on_investor_deposit, types=(InvestorDeposit,)
        )
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    def balances(self) -> dict[str, float]:
        return self.wallet.snapshot()

    async def on_investor_deposit(self, deposit: InvestorDeposit) -> None:
        """Book the deposit once: its id is claimed in the execution journal like an instruction's key,
        so a deposit delivered again (or to a wallet restarted since) is not booked twice."""
        recorded = await self.journal.claim(deposit.id)
        if recorded is not None:
            if recorded.outcomes:
                log.info("wallet: deposit %s booked before, not again", deposit.id)
            else:  # claimed and never booked: the wallet stopped in between; the log decides
                log.error(
                    "wallet: deposit %s was interrupted before it was booked; check the log", deposit.id
                )
            return
        booked = self.make(
            FlowBooked,
            cause=deposit,
            kind="deposit",
            amount=positive(deposit.amount, "amount"),
            asset=wallet_asset(deposit.asset),
            instrument=wallet_key(deposit.asset),
            request_id=deposit.id,
        )
        await self.emit(booked)
        await self.journal.complete(deposit.id, (booked,))  # after the publish: recorded means published

    async def execute(self, instruction: Instruction) -> None:
        transfer = instruction.action
        if not isinstance(transfer, Transfer):
            raise self.unsupported(instruction)
        if transfer.source != WALLET:
            raise UnknownDestination(f"the wallet cannot send from {transfer.source}")
        if transfer.destination != self.investor and transfer.destination not in self.deposit_delays_ns:
            raise UnknownDestination(f"the wallet does not send to {transfer.destination}")
        amount = positive(transfer.amount, "amount")
        self.require_wallet(transfer.asset, amount)
        gas_eth = self.gas_cost("eth_transfer" if wallet_asset(transfer.asset) == "ETH" else "erc20_transfer")
        if transfer.destination == self.investor:
            await self.pay_out(instruction, transfer, amount, gas_eth)
        else:
            await self.send_to_venue(instruction, transfer, amount, gas_eth)

    async def pay_out(
        self, instruction: Instruction, transfer: Transfer, amount: float, gas_eth: float
    ) -> None:
        await self.accept(instruction)
        await self.emit(
            self.make(
                FlowBooked,
                cause=instruction,
                kind="withdrawal",
                amount=amount,
                asset=wallet_asset(transfer.asset),
                instrument=wallet_key(transfer.asset),
                request_id=instruction.correlation_id or instruction.id,
            )
        )
        await self.filled(instruction, Execution(changes=(GasMeter.change(gas_eth),), gas_eth=gas_eth))

    async def send_to_venue(
        self, instruction: Instruction, transfer: Transfer, amount: float, gas_eth: float
    ) -> None:
        destination = transfer.destination
        delay = self.deposit_delays_ns[destination]
        arrival = Arrival(
            due_ns=self.clock.now_ns() + delay,
            cause=instruction,
            source=WALLET,
            destination=destination,
            asset=transfer.asset,
            amount=amount,
            fee=0.0,
            changes=(Fill(instrument=keys.token(destination, transfer.asset), delta=amount),),
            departed=amount,
        )
        self.arrivals.add(arrival)
        changes = (
            Fill(instrument=wallet_key(transfer.asset), delta=-amount),
            arrival.departure(),
            GasMeter.change(gas_eth),
        )
        await self.fill(instruction, Execution(changes=changes, gas_eth=gas_eth))
        if delay == 0:
            await self.arrivals.release(self, self.clock.now_ns())

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """Release the arrivals due (a coroutine for the bus to await only when one is)."""
        return self.arrivals.release_due(self, tick.ts)
