"""Who may publish what: one NATS user per component, for a nats-server run with least privilege.

The rule: a component publishes only the subjects it owns — a monitor its own ``evt.<monitor>.>``, a
gateway its venue's ``evt.<venue>.>``, the router ``cmd.<venue>.>``, the strategy ``cmd.router.>`` and
``cmd.wallet.>`` — so a compromised or buggy process cannot forge another's events or commands.
Subscriptions stay open (``>``): what a component may *say* is the risk, not what it hears.

The simulated chain (``sim-chain``, one process hosting every on-chain venue) publishes what each of
their gateways would. Every component may also publish its heartbeat (``sys.heartbeat.<name>``; a
gateway's also as ``sim-<venue>``, the feed's as ``market-data``), dead letters (``dlq.>``),
replies (``_INBOX.>``) and what JetStream needs: its API (``$JS.API.>``: streams, durable consumers,
key-value buckets) and acknowledgements (``$JS.ACK.>``). Gateways write their execution journal, the
key-value bucket ``basis_executed`` (``$KV.basis_executed.>``). The ``reader`` user is for outside
tools: it subscribes to market data, events, heartbeats and its inboxes, and publishes nothing. The
``operator`` user is for the supervisor and ``basis status``: it pings components (publishes
``sys.control.>``) and reads their heartbeats, nothing else.

Each component process logs in as one user (:func:`user_for`): ``market-data`` as ``feed``,
``sim-<venue>`` as ``gateway-<venue>``, ``sim-chain`` as ``sim-chain``, every other component under its
own name. :func:`system_permissions` gives the users of one running system: the users of its
components, ``operator`` and ``reader``.

:func:`render_config` writes the nats-server configuration (JSON, which nats-server reads as its own
syntax). Passwords come from ``$BASIS_NATS_PASSWORD_<USER>`` (``gateway-aave_v3`` →
``BASIS_NATS_PASSWORD_GATEWAY_AAVE_V3``) or are generated; a value beginning with ``$2`` is taken by
nats-server as a bcrypt hash, so the file need not hold the plain password. The configuration holds
secrets: :func:`write_config` writes it readable by its owner only, and nothing here logs a password.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import subjects as s
from .errors import BusError
from .journal import DEFAULT_BUCKET

DEFAULT_VENUES: tuple[str, ...] = (
    "binance",
    "bybit",
    "okx",
    "aave_v3",
    "wallet",
    "lido",
    "etherfi",
    "uniswap",
    "instadapp",
)
"""The venues a configuration has gateways for when none are named."""
ON_CHAIN_VENUES: frozenset[str] = frozenset({"aave_v3", "wallet", "lido", "etherfi", "uniswap", "instadapp"})
"""The venues a simulated chain hosts (``sim-chain``: one process answering for all of them)."""
CHAIN_COMPONENT = "sim-chain"

GATEWAY_PREFIX = "gateway-"
SIMULATED_GATEWAY_PREFIX = "sim-"
"""A simulated gateway answers pings as ``sim-<venue>``: its user may publish that heartbeat too."""
FEED_COMPONENT = "market-data"
"""The feed answers pings as ``market-data``."""
READER = "reader"
OPERATOR = "operator"
FEED_USER = "feed"
PASSWORD_ENV_PREFIX = "BASIS_NATS_PASSWORD_"

RESERVED_SOURCES = frozenset(
    {"fund", "transfers", "run", "positions", "exposure", "risk", "pnl", "strategy", "router"}
)
"""``evt.``/``cmd.`` tokens that name no venue: a venue called so would own another component's subjects."""

JETSTREAM_API = "$JS.API.>"
JETSTREAM_ACK = "$JS.ACK.>"
INBOX = "_INBOX.>"
ALL = ">"


def _all(*tokens: str) -> str:
    """Everything under ``tokens`` (``md.>``, ``evt.positions.>``)."""
    return s.pattern(*tokens, ">")


def journal_bucket(bucket: str = DEFAULT_BUCKET) -> str:
    """The subjects of the key-value bucket ``bucket`` (``$KV.<bucket>.>``)."""
    return f"$KV.{s.token(bucket)}.>"


@dataclass(frozen=True, slots=True)
class Permissions:
    """What the NATS user ``user`` may publish and subscribe to (``deny`` wins over ``allow``)."""

    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = (ALL,)
    publish_deny: tuple[str, ...] = field(default=())

    def as_config(self) -> dict[str, dict[str, list[str]]]:
        """The ``permissions`` block of nats-server's configuration."""
        publish: dict[str, list[str]] = {}
        if self.publish:
            publish["allow"] = list(self.publish)
        if self.publish_deny:
            publish["deny"] = list(self.publish_deny)
        return {"publish": publish, "subscribe": {"allow": list(self.subscribe)}}


def check_venues(venues: Iterable[str]) -> tuple[str, ...]:
    """``venues`` without duplicates, each a valid subject token naming no other component's subjects."""
    checked: list[str] = []
    for venue in venues:
        s.token(venue)
        if venue in RESERVED_SOURCES:
            raise BusError(
                f"venue {venue!r} would own the subjects of another component "
                f"(reserved: {', '.join(sorted(RESERVED_SOURCES))})"
            )
        if venue not in checked:
            checked.append(venue)
    if not checked:
        raise BusError("no venue given")
    return tuple(checked)


def _component(name: str, *own: str, also_known_as: tuple[str, ...] = ()) -> Permissions:
    """``name``'s permissions; its heartbeat also under ``also_known_as``, the names its process answers
    pings with when they differ from the user's."""
    heartbeats = (s.heartbeat(alias) for alias in (name, *also_known_as))
    common = (*heartbeats, _all(s.DLQ), INBOX, JETSTREAM_API, JETSTREAM_ACK)
    return Permissions(name, tuple(dict.fromkeys((*own, *common))))


def gateway_name(venue: str) -> str:
    return f"{GATEWAY_PREFIX}{s.token(venue)}"


def gateway_permissions(venue: str) -> Permissions:
    """A venue gateway: its venue's events, completed transfers, the wallet's fund flows, its journal."""
    own = [_all(s.EVT, venue), s.evt("transfers", "completed")]
    if venue == "wallet":
        own.append(_all(s.EVT, "fund"))
    own.append(journal_bucket())
    return _component(gateway_name(venue), *own, also_known_as=(f"{SIMULATED_GATEWAY_PREFIX}{venue}",))


def chain_permissions(venues: Sequence[str]) -> Permissions:
    """The simulated chain: what the gateway of each of its ``venues`` may publish."""
    own = [_all(s.EVT, venue) for venue in venues]
    own += [s.evt("transfers", "completed"), _all(s.EVT, "fund"), journal_bucket()]
    return _component(CHAIN_COMPONENT, *own)


def component_permissions(
    venues: Sequence[str] = DEFAULT_VENUES, chain_venues: Sequence[str] | None = None
) -> tuple[Permissions, ...]:
    """The permissions of every component, with one gateway per venue of ``venues``, and the simulated
    chain for ``chain_venues`` (by default those of ``venues`` that are on chain)."""
    venues = check_venues(venues)
    on_chain = [v for v in venues if v in ON_CHAIN_VENUES] if chain_venues is None else list(chain_venues)
    unknown = [venue for venue in on_chain if venue not in venues]
    if unknown:
        raise BusError(f"the chain hosts venues that are not among the venues: {', '.join(unknown)}")
    chain = (chain_permissions(on_chain),) if on_chain else ()
    return (
        # the replay feed publishes market data, investor flows, and drives the clock in a backtest
        _component(FEED_USER, _all(s.MD), _all(s.CMD, "fund"), s.clock(), also_known_as=(FEED_COMPONENT,)),
        _component("clock", s.clock()),
        *(gateway_permissions(venue) for venue in venues),
        *chain,
        _component("position-monitor", _all(s.EVT, "positions")),
        _component("exposure-monitor", _all(s.EVT, "exposure")),
        _component("risk-monitor", _all(s.EVT, "risk")),
        _component("pnl-monitor", _all(s.EVT, "pnl")),
        _component("strategy", _all(s.EVT, "strategy"), _all(s.CMD, "router"), _all(s.CMD, "wallet")),
        _component("router", _all(s.EVT, "router"), *(_all(s.CMD, venue) for venue in venues)),
        _component("recorder"),  # reads streams through durable consumers: JetStream rights only
    )


def reader_permissions() -> Permissions:
    """Outside tools: read market data, events and heartbeats; publish nothing."""
    return Permissions(
        READER,
        publish=(),
        subscribe=(_all(s.MD), _all(s.EVT), _all(s.SYS, "heartbeat"), INBOX),
        publish_deny=(ALL,),
    )


def operator_permissions() -> Permissions:
    """The supervisor and ``basis status``: ping every component, read the heartbeats that answer."""
    return Permissions(
        OPERATOR,
        publish=(_all(s.SYS, "control"), INBOX),
        subscribe=(_all(s.SYS, "heartbeat"), INBOX),
    )


def all_permissions(venues: Sequence[str] = DEFAULT_VENUES) -> tuple[Permissions, ...]:
    """Every user of the configuration: the components, then ``operator`` and ``reader``."""
    return (*component_permissions(venues), operator_permissions(), reader_permissions())


def user_for(component: str) -> str:
    """The NATS user the process of ``component`` logs in as: ``market-data`` → ``feed``,
    ``sim-<venue>`` → ``gateway-<venue>``, ``sim-chain`` → ``sim-chain``, any other its own name."""
    if component == FEED_COMPONENT:
        return FEED_USER
    if component != CHAIN_COMPONENT and component.startswith(SIMULATED_GATEWAY_PREFIX):
        return gateway_name(component.removeprefix(SIMULATED_GATEWAY_PREFIX))
    return component


def system_permissions(
    components: Sequence[str], chain_venues: Sequence[str] = ()
) -> tuple[Permissions, ...]:
    """The users of one running system: one per process of ``components`` (:func:`user_for`), then
    ``operator`` and ``reader``. Its venues are those of its ``sim-<venue>`` gateways and
    ``chain_venues``, the venues ``sim-chain`` hosts; the router may command each of them."""
    if CHAIN_COMPONENT in components and not chain_venues:
        raise BusError(f"{CHAIN_COMPONENT} runs: name the venues it hosts")
    if chain_venues and CHAIN_COMPONENT not in components:
        raise BusError(f"venues on chain but no {CHAIN_COMPONENT} to host them: {', '.join(chain_venues)}")
    exchanges = [
        name.removeprefix(SIMULATED_GATEWAY_PREFIX)
        for name in components
        if name != CHAIN_COMPONENT and name.startswith(SIMULATED_GATEWAY_PREFIX)
    ]
    venues = check_venues([*exchanges, *chain_venues])
    known = {p.user: p for p in component_permissions(venues, chain_venues)}
    users = list(dict.fromkeys(user_for(name) for name in components))
    missing = [user for user in users if user not in known]
    if missing:
        raise BusError(f"no NATS user for the components {', '.join(missing)}; known: {', '.join(known)}")
    return (*(known[user] for user in users), operator_permissions(), reader_permissions())


def password_env(user: str) -> str:
    """The environment variable holding ``user``'s password: ``BASIS_NATS_PASSWORD_<USER>``."""
    return PASSWORD_ENV_PREFIX + user.upper().replace("-", "_")


def passwords(users: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The password of each user: its environment variable when set and not empty, else a random one."""
    env = os.environ if environ is None else environ
    chosen: dict[str, str] = {}
    for user in users:
        value = env.get(password_env(user), "")
        if any(not ch.isprintable() for ch in value):
            raise BusError(f"${password_env(user)} holds a non-printable character")
        chosen[user] = value or secrets.token_urlsafe(24)
    return chosen


def required_passwords(users: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The password of each user from its environment variable, for a server configured elsewhere
    (``basis nats-config`` with the same variables): a missing one is an error naming the variables."""
    env = os.environ if environ is None else environ
    names = list(users)
    unset = [password_env(user) for user in names if not env.get(password_env(user))]
    if unset:
        raise BusError(f"set the password of every user: {', '.join('$' + name for name in unset)}")
    return passwords(names, env)


def render_config(
    users: Sequence[Permissions],
    user_passwords: Mapping[str, str],
    *,
    port: int = 4222,
    host: str | None = None,
    store_dir: str | Path | None = None,
) -> str:
    """The nats-server configuration: ``users`` with ``user_passwords``, JetStream on (its store in
    ``store_dir``, else nats-server's default), listening on ``host:port`` (every interface when no host)."""
    missing = [p.user for p in users if not user_passwords.get(p.user)]
    if missing:
        raise BusError(f"no password for {', '.join(missing)}")
    config: dict[str, object] = {}
    if host is None:
        config["port"] = port
    else:
        config["listen"] = f"{host}:{port}"
    config["jetstream"] = {} if store_dir is None else {"store_dir": str(store_dir)}
    config["authorization"] = {
        "users": [
            {"user": p.user, "password": user_passwords[p.user], "permissions": p.as_config()} for p in users
        ]
    }
    # nats-server's lexer knows \" and \\ but not \uXXXX: keep every other character as it is
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def write_config(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by its owner only (mode 0600), even when the file
    existed with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: tighten before writing
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(text)
    finally:
        if fd >= 0:
            os.close(fd)
