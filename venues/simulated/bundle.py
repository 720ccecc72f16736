"""Simulated atomic bundles (an Instadapp-style smart account): ``cmd.<venue>.bundle``.

An :class:`~basis.bus.messages.AtomicBundle` is one transaction: its steps run in order on the on-chain
venues' own state (the :class:`~.onchain.OnChainGateway` objects of the same chain, :mod:`.chain`, not a
copy), optionally inside a flash loan, and either every step takes effect or none does:

* the flash loan (if any) credits ``amount`` of its asset to the wallet before the first step and takes
  ``amount × (1 + fee)`` back after the last; the lender is a :class:`FlashLender` (Morpho: no fee);
* each venue a step calls first books what it owes up to now (:meth:`~.onchain.OnChainGateway.prepare`:
  AAVE's accrued interest), whatever becomes of the bundle;
* each step is :meth:`~.onchain.OnChainGateway.perform` of its venue, its wallet checks made against the
  wallet as the steps before it left it;
* a step the venue refuses, or a loan the steps cannot repay, takes every venue touched back to where
  it was (:meth:`~.onchain.OnChainGateway.restore`) and rejects the bundle: ``reason`` is the step's own
  reason (``exceeds_ltv``, ...) or ``flash_loan_unpaid``, ``step`` its index, ``detail`` names both. No gas
  is charged: a bundle is simulated before it is sent (as a live gateway's ``eth_call`` would), so one that
  would revert is never mined.

A bundle that goes through is answered with one ``InstructionFilled``: the changes of every step in
order (the flash loan's credit and repayment cancel out and are left out; a loan fee is booked), then one
gas change for the whole transaction (``fee``: the steps' fees and the loan's, when in one asset): Σ of the steps' gas units, the lender's overhead and the smart
account's own (``bundle``), at the gas price of the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import AtomicBundle, Fill, FlashLoan, Instruction

from ..errors import FlashLoanUnpaid, UnknownDestination, VenueError
from ..gateway import Execution
from .ledger import covers, positive
from .onchain import WALLET_PREFIX, GasMeter, OnChainGateway, wallet_asset, wallet_key, without_gas

DEFAULT_GAS: dict[str, int] = {"bundle": 150_000}
"""The smart account's own gas: the cast through its connectors and the flash-loan callback."""


@dataclass(frozen=True, slots=True)
class FlashLender:
    """A source of flash loans: its venue token, fee (a fraction of the amount) and gas overhead."""

    venue: str
    fee: float = 0.0
    gas_units: int = 0


class SimulatedBundler(OnChainGateway):
    """Gateway of the bundle venue: executes :class:`AtomicBundle` instructions over ``contracts``, the
    on-chain venues of the same chain by venue token, with flash loans from ``lenders``."""

    default_gas = DEFAULT_GAS

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        contracts: Mapping[str, OnChainGateway],
        lenders: Mapping[str, FlashLender] | None = None,
        venue: str = "instadapp",
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
        self.contracts = dict(contracts)
        self.lenders = dict(lenders or {})

    async def execute(self, instruction: Instruction) -> None:
        bundle = instruction.action
        if not isinstance(bundle, AtomicBundle):
            raise self.unsupported(instruction)
        for contract in self.touched(bundle):
            await contract.prepare(instruction)
        await self.fill(instruction, self.run(bundle))

    def touched(self, bundle: AtomicBundle) -> list[OnChainGateway]:
        """The venues of this chain that the steps of ``bundle`` call, once each, in step order."""
        venues = dict.fromkeys(step.venue for step in bundle.steps)
        return [self.contracts[venue] for venue in venues if venue in self.contracts]

    def run(self, bundle: AtomicBundle) -> Execution:
        """Every step of ``bundle``, or none: the fill's execution, or the :class:`VenueError` of the step
        that failed with every venue's state as it was before."""
        saved = [(contract, contract.snapshot()) for contract in self.touched(bundle)]
        try:
            return self._run(bundle)
        except BaseException:
            for contract, state in saved:
                contract.restore(state)
            raise

    def _run(self, bundle: AtomicBundle) -> Execution:
        wallet = self.wallet.copy()
        loan = bundle.flash_loan
        lender = self._lender(loan) if loan is not None else None
        if loan is not None:
            wallet.apply(wallet_key(loan.asset), loan.amount)
        changes: list[Fill] = []
        fees: dict[str, float] = {}
        gas_eth = self.gas_cost("bundle") + self.gas.cost_units(lender.gas_units if lender else 0)
        for index, step in enumerate(bundle.steps):
            what = f"{step.venue} {step.action.kind}"
            try:
                contract = self.contracts.get(step.venue)
                if contract is None:
                    raise UnknownDestination(f"{step.venue} is not a venue of this chain")
                execution = contract.perform(step.action, wallet)
            except VenueError as exc:
                raise exc.in_step(index, what) from exc
            step_changes = without_gas(execution)
            wallet.apply_changes(step_changes, WALLET_PREFIX)
            changes += step_changes
            gas_eth += execution.gas_eth
            if execution.fee:
                fees[execution.fee_asset] = fees.get(execution.fee_asset, 0.0) + execution.fee
        if loan is not None and lender is not None:
            fee = loan.amount * lender.fee
            owed = loan.amount + fee
            have = wallet.get(wallet_key(loan.asset))
            if not covers(have, owed):
                raise FlashLoanUnpaid(
                    f"flash loan of {loan.amount:g} {loan.asset} from {loan.venue}: the steps leave "
                    f"{have:g} to repay {owed:g}"
                )
            if fee:
                changes.append(Fill(instrument=wallet_key(loan.asset), delta=-fee))
                asset = wallet_asset(loan.asset)
                fees[asset] = fees.get(asset, 0.0) + fee
        changes.append(GasMeter.change(gas_eth))
        # one fee asset: their sum (a swap's pool fee, the loan's); several: none, the changes hold them
        fee_asset, fee = next(iter(fees.items())) if len(fees) == 1 else ("", 0.0)
        return Execution(changes=tuple(changes), fee=fee, fee_asset=fee_asset, gas_eth=gas_eth)

    def _lender(self, loan: FlashLoan) -> FlashLender:
        lender = self.lenders.get(loan.venue)
        if lender is None:
            raise UnknownDestination(f"no flash loans from {loan.venue} on this chain")
        positive(loan.amount, "flash loan amount")
        return lender
