"""What every simulated on-chain venue shares: the wallet it spends from, gas, and the ETH/WETH rule.

**ETH and WETH are one balance on the wallet side.** Every simulated on-chain venue books ETH and WETH
held by the operator's wallet under ``wallet:BaseToken:ETH``: AAVE's WETH reserve is entered through the
WETH gateway (supply/repay take native ETH, withdraw/borrow return native ETH), Uniswap's router wraps and
unwraps, staking takes ETH. So an instruction may name either ``ETH`` or ``WETH`` for the wallet side;
venue-side keys keep the protocol's symbol (``aave_v3:aToken:aWETH``). Wrapping is free (no gas is charged
for it separately).

Gas: an on-chain action costs ``gas units × gas price (gwei) × 1e-9`` ETH, booked as the **last** change of
its fill, ``wallet:BaseToken:ETH −gas_eth``, and reported in ``gas_eth``. The wallet's ETH may go negative
through gas only (gas fronted by the operator); spending ETH itself requires the balance.

An on-chain venue is also a contract a bundle can call (:mod:`.bundle`): :meth:`OnChainGateway.perform`
carries out one action on the venue's state against a given view of the wallet, without publishing
anything, and :meth:`~OnChainGateway.snapshot` / :meth:`~OnChainGateway.restore` take the venue's state
back when a later step of the bundle fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from basis.bus import instruments, subjects
from basis.bus.balances import BALANCE_EVENTS
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import Action, Fill, GasPrice, Instruction, Message

from ..errors import NoGasPrice, UnsupportedInstruction
from ..gateway import Execution, GatewayComponent
from .ledger import Balances

WALLET = "wallet"
WALLET_PREFIX = f"{WALLET}:"
GWEI = 1e-9

_WALLET_ALIASES = {"WETH": "ETH"}


def wallet_asset(asset: str) -> str:
    """The wallet-side symbol of ``asset`` (WETH is held as ETH)."""
    return _WALLET_ALIASES.get(asset, asset)


def wallet_key(asset: str) -> str:
    """``wallet:BaseToken:<asset>`` with the ETH/WETH rule applied."""
    return instruments.token(WALLET, wallet_asset(asset))


ETH_KEY = wallet_key("ETH")


class GasMeter:
    """Latest gas price of one chain and the gas units of each operation."""

    __slots__ = ("chain", "price_gwei", "units")

    def __init__(
        self, units: Mapping[str, int], *, chain: str = "ethereum", fallback_gwei: float | None = None
    ) -> None:
        self.chain = chain
        self.units = dict(units)
        self.price_gwei = fallback_gwei

    def on_gas_price(self, message: GasPrice) -> None:
        if message.chain == self.chain:
            self.price_gwei = message.price_gwei

    def cost_eth(self, operation: str) -> float:
        """Gas cost of ``operation`` in ETH at the latest gas price."""
        return self.cost_units(self.units[operation])

    def cost_units(self, units: int) -> float:
        """Cost of ``units`` of gas in ETH at the latest gas price."""
        if self.price_gwei is None:
            raise NoGasPrice(f"no gas price on {self.chain} yet")
        return units * self.price_gwei * GWEI

    @staticmethod
    def change(gas_eth: float) -> Fill:
        return Fill(instrument=ETH_KEY, delta=-gas_eth)


def without_gas(execution: Execution) -> tuple[Fill, ...]:
    """The changes of an on-chain execution but its gas (its last change, by the rule above)."""
    *changes, gas = execution.changes
    assert gas.instrument == ETH_KEY and gas.delta == -execution.gas_eth, (
        "gas is an on-chain fill's last change"
    )
    return tuple(changes)


class OnChainGateway(GatewayComponent):
    """A gateway that spends from the operator's wallet and pays gas.

    It keeps its own view of the ``wallet:*`` balances: its own events are applied when it publishes
    them, every other venue's events when they arrive on ``evt.>``. With ``check_wallet_balance`` it
    rejects instructions the wallet cannot fund (``insufficient_balance``).
    """

    default_gas: ClassVar[Mapping[str, int]] = {}
    """Gas units of each of the venue's operations; ``gas_units`` given to the constructor override them."""

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        venue: str,
        gas_units: Mapping[str, int] | None = None,
        chain: str = "ethereum",
        gas_price_gwei: float | None = None,
        check_wallet_balance: bool = True,
        name: str = "",
    ) -> None:
        super().__init__(bus, clock, ids, venue=venue, name=name or f"sim-{venue}")
        units = {**self.default_gas, **(gas_units or {})}
        self.gas = GasMeter(units, chain=chain, fallback_gwei=gas_price_gwei)
        self.wallet = Balances()
        self.check_wallet_balance = check_wallet_balance
        self.track_own_events(*BALANCE_EVENTS)

    async def on_start_gateway(self) -> None:
        await self.bus.subscribe(
            subjects.md("gas", self.gas.chain, "gwei"), self.on_gas_price, types=(GasPrice,)
        )
        await self.bus.subscribe(
            subjects.pattern(subjects.EVT, ">"), self.on_balance_event, types=BALANCE_EVENTS
        )
        await self.on_start_venue()

    async def on_start_venue(self) -> None:
        """Subscribe to the venue's own market data."""

    def on_gas_price(self, message: GasPrice) -> None:
        self.gas.on_gas_price(message)

    def on_balance_event(self, message: Message) -> None:
        if not self.is_own(message):
            self.wallet.apply_event(message, WALLET_PREFIX)

    async def emit(self, message: Message) -> None:
        self.wallet.apply_event(message, WALLET_PREFIX)
        await super().emit(message)

    def require_wallet(self, asset: str, amount: float, wallet: Balances | None = None) -> None:
        """Raise ``insufficient_balance`` unless ``wallet`` (the gateway's view by default) holds
        ``amount`` of ``asset``."""
        if self.check_wallet_balance:
            (wallet or self.wallet).require(wallet_key(asset), amount)

    def gas_cost(self, operation: str) -> float:
        return self.gas.cost_eth(operation)

    # --- the venue as a contract -------------------------------------------------------------------

    async def execute(self, instruction: Instruction) -> None:
        await self.prepare(instruction)
        await self.fill(instruction, self.perform(instruction.action, self.wallet))

    async def prepare(self, cause: Message) -> None:
        """Bring the venue's own bookkeeping up to now before an action (publishing what that books),
        whether the action comes alone or as a step of a bundle."""

    def perform(self, action: Action, wallet: Balances) -> Execution:
        """Carry out ``action`` on the venue's state, the wallet's funds checked against ``wallet``, and
        return what it changed (gas last); publish nothing. Raise a :class:`VenueError` to refuse it,
        leaving the state as it was."""
        raise UnsupportedInstruction(f"{self.venue} does not handle {action.kind}")

    def snapshot(self) -> object:
        """What :meth:`restore` needs to take the venue's state back to now (None: nothing
        :meth:`perform` changes lives here)."""
        return None

    def restore(self, snapshot: object) -> None:
        """Take the venue's state back to ``snapshot``."""
