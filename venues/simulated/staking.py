"""Simulated liquid staking (Lido wstETH, ether.fi weETH).

* ``Stake(token, amount)``: ``wallet:BaseToken:ETH −amount``, ``wallet:BaseToken:<token> +amount / rate``
  at the latest ``LstRate`` (ETH per token), gas.
* ``Unstake(token, amount)``: ``wallet:BaseToken:<token> −amount`` and gas now; the ETH
  (``amount × rate`` at the request, as the withdrawal queue fixes it) arrives ``unstake_delay_s`` of
  simulated time later as ``TransferCompleted(source=<venue>, destination="wallet", asset="ETH")``.

The staking return accrues through the rate (the token is valued at rate × ETH price), so no settlement
is published for it.

Reward tokens (ether.fi: EIGEN and ETHFI, ``RewardDistribution`` on ``md.reward.<venue>.*`` for the
venue's ``base_token``, eETH): a distribution pays ``per eETH × the eETH held over its period,
time-weighted`` (∫ eETH dt / period length), with eETH = token held × the exchange rate in force. It is
credited once the period has closed, at the distribution's time or, when that comes first, at the first
``ClockTicked`` at or after the period's end, as ``Settled(kind="rewards",
instrument="wallet:BaseToken:<REWARD>", asset=<REWARD>)`` (ether.fi drops rewards to the wallet).

* The holding counts the token in the wallet and the token supplied to a lending market (``*:aToken:a<token>``,
  as ether.fi credits AAVE suppliers of weETH); a token in the unstake queue or swapped away does not.
* Per eETH: ``distributed / staked`` when the distribution says both (the EIGEN file: ``eigen_earned /
  (eth_restaked + eth_not_restaked)``), else the published ``amount_per_unit`` (the ETHFI top-ups, whose
  ``ethfi_per_eeth_distributed`` is that ratio already). The data README's EIGEN quirks: the published
  ``eigen_per_eeth_weekly`` of the first, 52-day period (0.205) is about a sixth of what was distributed
  per eETH (1.23), and it is 3–9% above the ratio from the period ending 2025-02-15 on; the ratio is what
  was actually shared, so it is used for every period. Periods of any length (52 days, the 8-day last
  one) are weighted over their own dates.
* Period: its first day 00:00 UTC to the day after its last day (the files give inclusive dates), so
  consecutive periods tile time; the EIGEN rows are dated 00:00 of their last day, one day before that
  end, and are credited at the end. An ETHFI top-up is paid weeks after its period: its time-weighting
  reads the holding history. A distribution without period dates pays on the eETH held at its time.
* A period that has not closed by the end of a run is not credited.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Mapping
from dataclasses import replace

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    Action,
    ClockTicked,
    Fill,
    Instruction,
    LstRate,
    Message,
    RewardDistribution,
    Settled,
    Stake,
    Unstake,
)

from ..errors import NoPrice, UnknownInstrument, UnsupportedInstruction
from ..gateway import Execution
from .ledger import Balances, positive
from .onchain import ETH_KEY, WALLET, WALLET_PREFIX, GasMeter, OnChainGateway, wallet_key
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


class HoldingHistory:
    """The eETH held over time, as breakpoints: from ``times[i]`` on, ``levels[i]`` is held, and
    ``integrals[i]`` is ∫ eETH dt (eETH·ns) up to ``times[i]``. No I/O."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.integrals: list[float] = []
        self.levels: list[float] = []

    def integral(self, ts: int) -> float:
        """∫ eETH dt from the first breakpoint up to ``ts`` (eETH·ns)."""
        i = bisect.bisect_right(self.times, ts) - 1
        if i < 0:
            return 0.0
        return self.integrals[i] + self.levels[i] * (ts - self.times[i])

    def hold(self, ts: int, level: float) -> None:
        """From ``ts`` on, ``level`` eETH is held (``ts`` never before the last breakpoint)."""
        times = self.times
        if times and ts <= times[-1]:
            ts = times[-1]
            if self.levels[-1] == level:
                return
            self.levels[-1] = level
            return
        if times and self.levels[-1] == level:
            return
        self.integrals.append(self.integral(ts))
        times.append(ts)
        self.levels.append(level)

    def average(self, start: int, end: int) -> float:
        """The time-weighted eETH held over ``[start, end)``."""
        return (self.integral(end) - self.integral(start)) / (end - start)

    def at(self, ts: int) -> float:
        i = bisect.bisect_right(self.times, ts) - 1
        return self.levels[i] if i >= 0 else 0.0


class RewardAccrual:
    """Reward tokens earned by holding a staking token, per the protocol's distributions (module
    docstring). Fed the token's balances and rate; answers what each distribution pays. No I/O."""

    def __init__(self, token: str, base_token: str) -> None:
        self.token = token
        self.base_token = base_token
        self.wallet_key = wallet_key(token)
        self.supplied_suffix = f":aToken:a{token}"
        self.held: dict[str, float] = {}
        self.rate = 0.0
        self.history = HoldingHistory()
        self.pending: list[RewardDistribution] = []
        """Distributions whose period has not closed yet, in arrival order."""

    def counts(self, instrument: str) -> bool:
        return instrument == self.wallet_key or instrument.endswith(self.supplied_suffix)

    def on_changes(self, ts: int, changes: Mapping[str, float]) -> None:
        """Balance changes of the held keys (others are ignored) booked at ``ts``."""
        moved = False
        for instrument, delta in changes.items():
            if self.counts(instrument):
                self.held[instrument] = self.held.get(instrument, 0.0) + delta
                moved = True
        if moved:
            self._hold(ts)

    def on_rate(self, ts: int, rate: float) -> None:
        if rate > 0.0 and rate != self.rate:
            self.rate = rate
            self._hold(ts)

    def _hold(self, ts: int) -> None:
        tokens = sum(max(q, 0.0) for q in self.held.values())
        self.history.hold(ts, tokens * self.rate)

    def take(self, distribution: RewardDistribution) -> bool:
        """Keep ``distribution`` if it pays holders of the base token; True when it does."""
        if distribution.token != self.base_token:
            return False
        self.pending.append(distribution)
        return True

    def due(self, now: int) -> list[tuple[RewardDistribution, float]]:
        """The distributions whose period has closed by ``now`` (and that are out by then), with the
        reward tokens each pays; they leave the pending list."""
        out: list[tuple[RewardDistribution, float]] = []
        keep: list[RewardDistribution] = []
        for distribution in self.pending:
            if max(distribution.ts, distribution.period_end) <= now:
                out.append((distribution, self.amount(distribution)))
            else:
                keep.append(distribution)
        self.pending = keep
        return out

    @staticmethod
    def per_unit(distribution: RewardDistribution) -> float:
        """Reward tokens per eETH held over the whole period."""
        if distribution.distributed > 0.0 and distribution.staked > 0.0:
            return distribution.distributed / distribution.staked
        return distribution.amount_per_unit

    def amount(self, distribution: RewardDistribution) -> float:
        start, end = distribution.period_start, distribution.period_end
        if 0 < start < end:
            held = self.history.average(start, end)
        else:
            held = self.history.at(distribution.ts)
        return self.per_unit(distribution) * held


class SimulatedStaking(OnChainGateway):
    """Gateway of a simulated staking venue (``cmd.<venue>.{stake,unstake}``) for one token.

    The rate comes from ``md.lst.<rate_venue>.<token>`` (``rate_venue`` defaults to the venue). With a
    ``base_token`` (eETH for weETH) it credits the reward distributions of ``md.reward.<venue>.*``.
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
        base_token: str = "",
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
        self.rewards = RewardAccrual(token, base_token) if base_token else None

    async def on_start_venue(self) -> None:
        subject = subjects.md("lst", self.rate_venue, self.pool.token)
        await self.bus.subscribe(subject, self.on_rate, types=(LstRate,))
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))
        if self.rewards is not None:
            rewards = subjects.pattern(subjects.MD, "reward", self.venue, "*")
            await self.bus.subscribe(rewards, self.on_reward, types=(RewardDistribution,))

    def on_rate(self, message: LstRate) -> None:
        self.pool.on_rate(message)
        if self.rewards is not None and message.token == self.pool.token:
            self.rewards.on_rate(message.ts, message.rate)

    def on_balance_event(self, message: Message) -> None:
        if not self.is_own(message):
            self.wallet.apply_event(message, WALLET_PREFIX)
            self._track(message)

    async def emit(self, message: Message) -> None:
        self._track(message)
        await super().emit(message)

    def _track(self, message: Message) -> None:
        if self.rewards is not None:
            book = Balances()
            book.apply_event(message)
            if book.positions:
                self.rewards.on_changes(message.ts, book.positions)

    async def on_reward(self, message: RewardDistribution) -> None:
        if self.rewards is not None and self.rewards.take(message):
            await self._credit(message, message.ts)

    async def _credit(self, cause: Message, now: int) -> None:
        assert self.rewards is not None
        for distribution, amount in self.rewards.due(now):
            if amount > 0.0:
                reward = distribution.reward_token
                await self.emit(
                    self.make(
                        Settled,
                        cause=cause,
                        venue=self.venue,
                        instrument=wallet_key(reward),
                        kind="rewards",
                        amount=amount,
                        asset=reward,
                    )
                )

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
        """Release the arrivals due and credit the rewards of periods closed (a coroutine for the bus to
        await only when there is something to do)."""
        release = self.arrivals.release_due(self, tick.ts)
        rewards = self.rewards
        if rewards is None or not any(max(d.ts, d.period_end) <= tick.ts for d in rewards.pending):
            return release
        return self._on_tick(tick, release)

    async def _on_tick(self, tick: ClockTicked, release: Awaitable[None] | None) -> None:
        if release is not None:
            await release
        await self._credit(tick, tick.ts)
