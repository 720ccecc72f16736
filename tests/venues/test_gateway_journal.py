"""A gateway executes an idempotency key at most once: a redelivered instruction, and one delivered to a
gateway restarted since (its journal in a JetStream key-value bucket on a real nats-server), is answered
with an ``InstructionStatus`` carrying the original outcome, and changes no balance; a status query is
answered from the same journal."""

from __future__ import annotations

import itertools

from venueutil import Harness

from basis.bus.bus import Bus
from basis.bus.embedded import EmbeddedNats
from basis.bus.ids import SequentialIds
from basis.bus.journal import ExecutionJournal, Recorded
from basis.bus.messages import (
    FlowBooked,
    Instruction,
    InstructionAccepted,
    InstructionFilled,
    InstructionRejected,
    InstructionStatus,
    InvestorDeposit,
    Message,
    QueryStatus,
    Transfer,
)
from basis.bus.transport.jetstream_journal import JetStreamJournal
from basis.bus.transport.nats import NatsTransport
from basis.venues.simulated import SimulatedWallet

_buckets = itertools.count(1)
PAYOUT = Transfer(source="wallet", destination="investor", asset="USDT", amount=100.0)
OUTCOMES = (InstructionAccepted, FlowBooked, InstructionFilled, InstructionRejected, InstructionStatus)


async def wallet(h: Harness, journal: ExecutionJournal | None = None) -> SimulatedWallet:
    gateway = SimulatedWallet(Bus(h.transport, component="wallet"), h.clock, SequentialIds("run", "wallet"))
    if journal is not None:
        gateway.journal = journal
    await gateway.start()
    return gateway


async def funded(journal: ExecutionJournal | None = None) -> tuple[Harness, SimulatedWallet]:
    h = Harness()
    await h.start_recording()
    gateway = await wallet(h, journal)
    await h.gas(10.0)
    await h.send(InvestorDeposit, amount=1_000.0, asset="USDT")
    return h, gateway


def answers(h: Harness, instruction: Instruction) -> list[Message]:
    return [e for e in h.events if isinstance(e, OUTCOMES) and e.causation_id == instruction.id]


async def test_a_redelivered_instruction_is_answered_again_and_not_executed() -> None:
    h, gateway = await funded()
    payout = h.make(Instruction, venue="wallet", action=PAYOUT)
    await h.bus.publish(payout)
    first = answers(h, payout)
    assert [type(m) for m in first] == [InstructionAccepted, FlowBooked, InstructionFilled]
    balances = gateway.balances()

    await h.bus.publish(payout)  # redelivery
    [status] = answers(h, payout)[3:]
    assert isinstance(status, InstructionStatus)
    assert (status.state, status.outcomes) == ("filled", tuple(first))  # the same messages, ids included
    assert gateway.executed == 1
    assert gateway.balances() == balances
    assert balances["wallet:BaseToken:USDT"] == 900.0
    assert h.book("wallet:BaseToken:USDT") == {"wallet:BaseToken:USDT": 900.0}  # the payout booked once


async def test_a_status_query_is_answered_from_the_journal() -> None:
    h, _ = await funded()
    payout = h.make(Instruction, venue="wallet", action=PAYOUT)
    await h.bus.publish(payout)
    for instruction_id, state, outcomes in ((payout.id, "filled", 3), ("never.sent", "unknown", 0)):
        query = h.make(QueryStatus, venue="wallet", instruction_id=instruction_id)
        await h.bus.publish(query)
        [status] = [e for e in h.of(InstructionStatus) if e.causation_id == query.id]
        assert (status.instruction_id, status.state, len(status.outcomes)) == (
            instruction_id,
            state,
            outcomes,
        )


async def test_a_restarted_gateway_answers_from_the_journal(nats_server: EmbeddedNats) -> None:
    bucket = f"gateway_journal_{next(_buckets)}"
    before = await NatsTransport.connect(nats_server.url)
    h, gateway = await funded(await JetStreamJournal.open(before.js, bucket))
    payout = h.make(Instruction, venue="wallet", action=PAYOUT)
    await h.bus.publish(payout)
    first = answers(h, payout)
    assert gateway.executed == 1 and len(first) == 3
    await before.close()

    # the process is gone: a new gateway, a new connection, the same bucket, no balances of its own yet
    after = await NatsTransport.connect(nats_server.url)
    restarted_h = Harness()
    await restarted_h.start_recording()
    restarted = await wallet(restarted_h, await JetStreamJournal.open(after.js, bucket))
    await restarted_h.bus.publish(payout)
    [status] = answers(restarted_h, payout)
    assert isinstance(status, InstructionStatus)
    assert (status.state, status.outcomes) == ("filled", tuple(first))
    assert restarted.executed == 0
    assert restarted.balances() == {}

    # a key it never saw is executed as usual (and rejected here: this wallet holds nothing)
    other = restarted_h.make(Instruction, venue="wallet", action=PAYOUT)
    await restarted_h.bus.publish(other)
    assert restarted.executed == 1
    assert [type(m) for m in answers(restarted_h, other)] == [InstructionRejected]
    await after.close()


async def test_an_interrupted_execution_is_never_executed_again(nats_server: EmbeddedNats) -> None:
    """A key claimed with no outcome (the gateway died mid-execution) is answered ``outcome_unknown``."""
    transport = await NatsTransport.connect(nats_server.url)
    journal = await JetStreamJournal.open(transport.js, f"gateway_journal_{next(_buckets)}")
    h, gateway = await funded(journal)
    payout = h.make(Instruction, venue="wallet", action=PAYOUT)
    assert await journal.claim(payout.key) is None  # what a gateway killed during execute leaves behind
    await h.bus.publish(payout)
    [rejected] = answers(h, payout)
    assert isinstance(rejected, InstructionRejected)
    assert (rejected.reason, rejected.transient) == ("outcome_unknown", False)
    assert gateway.executed == 0
    assert gateway.balances()["wallet:BaseToken:USDT"] == 1_000.0
    # asked later, by status or by a redelivery, it gets the same answer: the rejection is recorded
    query = h.make(QueryStatus, venue="wallet", instruction_id=payout.id)
    await h.bus.publish(query)
    [status] = [e for e in h.of(InstructionStatus) if e.causation_id == query.id]
    assert (status.state, status.outcomes) == ("rejected", (rejected,))
    await transport.close()


async def test_a_status_query_about_an_interrupted_execution_says_outcome_unknown() -> None:
    h, gateway = await funded()
    key = "run.router.9"
    assert await gateway.journal.claim(key) is None  # claimed by a gateway that then died
    query = h.make(QueryStatus, venue="wallet", instruction_id=key)
    await h.bus.publish(query)
    [status] = [e for e in h.of(InstructionStatus) if e.causation_id == query.id]
    [rejection] = status.outcomes
    assert status.state == "rejected"
    assert isinstance(rejection, InstructionRejected) and rejection.reason == "outcome_unknown"
    assert await gateway.journal.lookup(key) == Recorded((rejection,))


async def test_an_investor_deposit_delivered_twice_is_booked_once() -> None:
    h, gateway = await funded()
    deposit = h.make(InvestorDeposit, amount=500.0, asset="USDT")
    await h.bus.publish(deposit)
    await h.bus.publish(deposit)
    assert len([e for e in h.of(FlowBooked) if e.causation_id == deposit.id]) == 1
    assert gateway.balances()["wallet:BaseToken:USDT"] == 1_500.0
    assert h.book("wallet:BaseToken:USDT") == {"wallet:BaseToken:USDT": 1_500.0}
