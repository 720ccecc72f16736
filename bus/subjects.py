"""Every subject on the bus. No other code formats a subject string by hand.

Hierarchy::

    md.<kind>.<venue>.<instrument>     market data (JetStream stream BASIS_MD)
    cmd.<target>.<kind>                commands to venues and the fund (JetStream stream BASIS_CMD)
    evt.<source>.<kind>                events: fills, settlements, snapshots (JetStream stream BASIS_EVT)
    sys.clock                          simulation clock (plain subject)
    sys.heartbeat.<component>          liveness (plain subject)
    sys.control.<component>            ping / stop (plain subject)
    dlq.<original subject>             payloads a consumer could not decode (JetStream stream BASIS_DLQ)

Tokens are lower-case where they name a kind, a venue or a component; instrument tokens keep the
venue's symbol (``BTCUSDT``, ``BTCUSDT-PERP``). Wildcards follow NATS: ``*`` one token, ``>`` the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import messages as m
from .errors import SubjectError

_TOKEN = re.compile(r"^[A-Za-z0-9_\-:]+$")

MD, CMD, EVT, SYS, DLQ = "md", "cmd", "evt", "sys", "dlq"


@dataclass(frozen=True, slots=True)
class Stream:
    """A JetStream stream holding one durable family."""

    name: str
    subjects: tuple[str, ...]


STREAMS: tuple[Stream, ...] = (
    Stream("BASIS_MD", ("md.>",)),
    Stream("BASIS_CMD", ("cmd.>",)),
    Stream("BASIS_EVT", ("evt.>",)),
    Stream("BASIS_DLQ", ("dlq.>",)),
)


_CHECKED: set[str] = set()


def token(value: str) -> str:
    """Check one subject token: no dots, spaces or wildcards (checked once per distinct value)."""
    if value in _CHECKED:
        return value
    if not _TOKEN.match(value):
        raise SubjectError(f"invalid subject token {value!r}: use letters, digits, '_', '-' or ':'")
    if len(_CHECKED) < 100_000:
        _CHECKED.add(value)
    return value


def md(kind: str, venue: str, instrument: str) -> str:
    return f"md.{token(kind)}.{token(venue)}.{token(instrument)}"


def cmd(target: str, kind: str) -> str:
    return f"cmd.{token(target)}.{token(kind)}"


def evt(source: str, kind: str) -> str:
    return f"evt.{token(source)}.{token(kind)}"


def clock() -> str:
    return "sys.clock"


def heartbeat(component: str) -> str:
    return f"sys.heartbeat.{token(component)}"


def control(component: str) -> str:
    return f"sys.control.{token(component)}"


def dlq(subject: str) -> str:
    """Dead-letter subject for payloads that failed on ``subject``."""
    return f"dlq.{subject}"


def bar_instrument(symbol: str, market: str) -> str:
    return f"{symbol}-PERP" if market == "perp" else symbol


_STREAM_OF_HEAD: dict[str, Stream] = {stream.subjects[0].split(".", 1)[0]: stream for stream in STREAMS}


def stream_of(subject: str) -> Stream | None:
    """The JetStream stream that holds ``subject``, or None for plain (non-durable) subjects."""
    return _STREAM_OF_HEAD.get(subject.partition(".")[0])


def is_durable(subject: str) -> bool:
    """True when ``subject`` belongs to one of the JetStream families in :data:`STREAMS`."""
    return subject.partition(".")[0] in _STREAM_OF_HEAD


# --- which subject each message is published on -------------------------------------------------


_SUBJECT_OF: dict[type, Callable[..., str]] = {}
_CONSTANT: dict[type, str] = {}
"""Subjects that depend on the message type only, computed once."""
_BAR_SUBJECTS: dict[tuple[str, str, str], str] = {}
_CACHE_LIMIT = 100_000


def subject_of(message: m.Message) -> str:
    """The subject ``message`` is published on."""
    kind = type(message)
    subject = _CONSTANT.get(kind)
    if subject is not None:
        return subject
    if isinstance(message, m.Bar):  # the most frequent message: its subject is cached per series
        where = (message.venue, message.symbol, message.market)
        subject = _BAR_SUBJECTS.get(where)
        if subject is None:
            subject = _bar(message)
            if len(_BAR_SUBJECTS) < _CACHE_LIMIT:
                _BAR_SUBJECTS[where] = subject
        return subject
    try:
        fn = _SUBJECT_OF[kind]
    except KeyError:
        raise SubjectError(f"no subject defined for {kind.__name__}") from None
    return fn(message)


def _on(*types: type[m.Message]) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        for t in types:
            _SUBJECT_OF[t] = fn
        return fn

    return register


@_on(m.Bar)
def _bar(msg: m.Bar) -> str:
    return md("bar", msg.venue, bar_instrument(msg.symbol, msg.market))


@_on(m.OraclePrice)
def _oracle(msg: m.OraclePrice) -> str:
    return md("price", msg.venue, msg.asset)


@_on(m.FundingRate)
def _funding(msg: m.FundingRate) -> str:
    return md("funding", msg.venue, msg.symbol)


@_on(m.ReserveState)
def _reserve(msg: m.ReserveState) -> str:
    return md("reserve", msg.venue, msg.asset)


@_on(m.LstRate)
def _lst(msg: m.LstRate) -> str:
    return md("lst", msg.venue, msg.token)


@_on(m.GasPrice)
def _gas(msg: m.GasPrice) -> str:
    return md("gas", msg.chain, "gwei")


@_on(m.RewardDistribution)
def _reward(msg: m.RewardDistribution) -> str:
    return md("reward", msg.venue, msg.reward_token)


@_on(m.ModelSignal)
def _signal(msg: m.ModelSignal) -> str:
    return md("signal", msg.model, msg.symbol)


@_on(m.Instruction)
def _instruction(msg: m.Instruction) -> str:
    return cmd(msg.venue, m.KINDS[type(msg.action)])


@_on(m.QueryStatus)
def _query_status(msg: m.QueryStatus) -> str:
    return cmd(msg.venue, "status")


_VENUE_EVENT_KINDS: dict[type[m.Message], str] = {
    m.InstructionAccepted: "accepted",
    m.InstructionRejected: "rejected",
    m.InstructionFilled: "filled",
    m.InstructionCancelled: "cancelled",
    m.InstructionExpired: "expired",
    m.InstructionStatus: "status",
    m.TransactionSubmitted: "submitted",
    m.TransactionMined: "mined",
    m.TransactionReverted: "reverted",
    m.TransactionReplaced: "replaced",
}


@_on(*_VENUE_EVENT_KINDS)
def _venue_event(
    msg: m.InstructionAccepted
    | m.InstructionRejected
    | m.InstructionFilled
    | m.InstructionCancelled
    | m.InstructionExpired
    | m.InstructionStatus
    | m.TransactionSubmitted
    | m.TransactionMined
    | m.TransactionReverted
    | m.TransactionReplaced,
) -> str:
    return evt(msg.venue, _VENUE_EVENT_KINDS[type(msg)])


@_on(m.Settled)
def _settled(msg: m.Settled) -> str:
    return evt(msg.venue, msg.kind)


@_on(m.Liquidated)
def _liquidated(msg: m.Liquidated) -> str:
    return evt(msg.venue, "liquidated")


@_on(m.FlowBooked)
def _flow(msg: m.FlowBooked) -> str:
    return evt("fund", msg.kind)


_MONITOR_EVENTS: dict[type[m.Message], tuple[str, str]] = {
    m.PositionSnapshot: ("positions", "snapshot"),
    m.ExposureSnapshot: ("exposure", "snapshot"),
    m.RiskAssessment: ("risk", "assessment"),
    m.PnlSnapshot: ("pnl", "snapshot"),
    m.StrategyDecided: ("strategy", "decision"),
    m.EmergencyAction: ("strategy", "emergency"),
    m.RebalanceAssessed: ("strategy", "rebalance"),
    m.RouteCompleted: ("router", "completed"),
}


# Types whose subject never varies: answered from _CONSTANT, without a function.
_CONSTANT.update({t: evt(*parts) for t, parts in _MONITOR_EVENTS.items()})
_CONSTANT.update(
    {
        m.InvestorDeposit: cmd("fund", "deposit"),
        m.InvestorWithdrawal: cmd("fund", "withdraw"),
        m.RunStarted: evt("run", "started"),
        m.TransferCompleted: evt("transfers", "completed"),
        m.ClockTicked: clock(),
    }
)


@_on(m.Heartbeat)
def _heartbeat(msg: m.Heartbeat) -> str:
    return heartbeat(msg.component)


@_on(m.Control)
def _control(msg: m.Control) -> str:
    return control(msg.component)


# --- the documented hierarchy (``basis subjects``) ----------------------------------------------

HIERARCHY: tuple[tuple[str, str], ...] = (
    ("md.bar.<venue>.<symbol>[-PERP]", "Bar"),
    ("md.price.<venue>.<asset>", "OraclePrice"),
    ("md.funding.<venue>.<symbol>", "FundingRate"),
    ("md.reserve.<venue>.<asset>", "ReserveState"),
    ("md.lst.<venue>.<token>", "LstRate"),
    ("md.gas.<chain>.gwei", "GasPrice"),
    ("md.reward.<venue>.<reward_token>", "RewardDistribution"),
    ("md.signal.<model>.<symbol>", "ModelSignal"),
    *((f"cmd.<venue>.{kind}", f"Instruction({t.__name__})") for t, kind in m.KINDS.items()),
    ("cmd.<venue>.status", "QueryStatus"),
    ("cmd.fund.deposit", "InvestorDeposit"),
    ("cmd.fund.withdraw", "InvestorWithdrawal"),
    *((f"evt.<venue>.{kind}", t.__name__) for t, kind in _VENUE_EVENT_KINDS.items()),
    ("evt.<venue>.<settlement kind>", "Settled"),
    ("evt.<venue>.liquidated", "Liquidated"),
    ("evt.transfers.completed", "TransferCompleted"),
    ("evt.fund.<deposit|withdrawal>", "FlowBooked"),
    ("evt.run.started", "RunStarted"),
    *((f"evt.{src}.{kind}", t.__name__) for t, (src, kind) in _MONITOR_EVENTS.items()),
    ("sys.clock", "ClockTicked"),
    ("sys.heartbeat.<component>", "Heartbeat"),
    ("sys.control.<component>", "Control"),
    ("dlq.<original subject>", "raw payload"),
)


# --- wildcard matching (the in-process transport uses NATS semantics) ---------------------------


def validate_pattern(pattern: str) -> list[str]:
    """Split and check a subscription pattern; ``>`` only as the last token."""
    tokens = pattern.split(".")
    for i, tok in enumerate(tokens):
        if tok == "" or " " in tok:
            raise SubjectError(f"invalid subject pattern {pattern!r}: empty token or space")
        if tok == ">" and i != len(tokens) - 1:
            raise SubjectError(f"invalid subject pattern {pattern!r}: '>' must be the last token")
        if tok not in ("*", ">") and ("*" in tok or ">" in tok):
            raise SubjectError(f"invalid subject pattern {pattern!r}: wildcard inside token {tok!r}")
    return tokens


def pattern(*tokens: str) -> str:
    """A subscription pattern from tokens, each checked (``*`` and ``>`` pass as wildcards):
    ``pattern(MD, "funding", venue, "*")``."""
    for tok in tokens:
        if tok not in ("*", ">"):
            token(tok)
    text = ".".join(tokens)
    validate_pattern(text)
    return text


def matches(pattern: str, subject: str) -> bool:
    """True when ``subject`` matches ``pattern`` under NATS rules."""
    return tokens_match(pattern.split("."), subject.split("."))


def tokens_match(pattern: list[str], subject: list[str]) -> bool:
    n = len(pattern)
    for i, tok in enumerate(pattern):
        if tok == ">":
            return len(subject) > i
        if i >= len(subject):
            return False
        if tok != "*" and tok != subject[i]:
            return False
    return n == len(subject)


def covers(pattern: str, other: str) -> bool:
    """True when every subject ``other`` matches is matched by ``pattern`` too (both NATS patterns)."""
    a, b = pattern.split("."), other.split(".")
    for i, tok in enumerate(a):
        if tok == ">":
            return len(b) > i
        if i >= len(b) or b[i] == ">" or (tok != "*" and tok != b[i]):
            return False
    return len(a) == len(b)


def overlaps(pattern: str, other: str) -> bool:
    """True when some subject is matched by both NATS patterns."""
    a, b = pattern.split("."), other.split(".")
    for i in range(max(len(a), len(b))):
        if i >= len(a) or i >= len(b):
            return False
        x, y = a[i], b[i]
        if x == ">" or y == ">":
            return True
        if x != "*" and y != "*" and x != y:
            return False
    return True
