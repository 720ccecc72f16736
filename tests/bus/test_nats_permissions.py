"""One NATS user per component: a real nats-server run with the generated configuration refuses every
publish outside a user's own subjects, and ``basis nats-config`` never shows a password."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from basis.bus import permissions as p
from basis.bus.credentials import Credentials, from_env
from basis.bus.embedded import EmbeddedNats, free_port
from basis.bus.errors import BusError, SubjectError, TransportError
from basis.bus.transport.jetstream_journal import JetStreamJournal
from basis.bus.transport.nats import NatsTransport

WAIT = 5.0


class Server:
    """The server started with a generated configuration, and the password of each user."""

    def __init__(self, nats_server: EmbeddedNats, passwords: dict[str, str]) -> None:
        self.nats = nats_server
        self.passwords = passwords

    def url_of(self, user: str) -> str:
        return f"nats://{user}:{self.passwords[user]}@{self.nats.host}:{self.nats.port}"


def start_with_config(run_dir: Path, config: Path, port: int) -> EmbeddedNats:
    """nats-server with ``config`` (its JetStream block included): no ``-js`` from the command line."""
    return EmbeddedNats(run_dir, port=port, jetstream=False, extra_args=("-c", str(config)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    run_dir = tmp_path_factory.mktemp("nats-permissions")
    users = p.all_permissions()
    passwords = p.passwords([user.user for user in users], environ={})
    port = free_port()
    config = run_dir / "nats.conf"
    p.write_config(
        config, p.render_config(users, passwords, port=port, host="127.0.0.1", store_dir=run_dir / "js")
    )
    with start_with_config(run_dir, config, port) as embedded:  # a server that cannot start fails here
        yield Server(embedded, passwords)


class Connection:
    """A nats-py connection as one user, keeping the errors the server reports asynchronously."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []
        self.errored = asyncio.Event()
        self.nc = Client()

    async def on_error(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.errored.set()

    async def violation(self) -> str:
        """The first error the server reported (nats-py lower-cases it)."""
        await asyncio.wait_for(self.errored.wait(), WAIT)
        return str(self.errors[0])


OpenAs = Callable[[str], Awaitable[Connection]]
"""Opens a connection as the user it is given."""


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[OpenAs]:
    opened: list[Connection] = []

    async def open_as(user: str) -> Connection:
        conn = Connection()
        conn.nc = await nats.connect(
            f"nats://{server.nats.host}:{server.nats.port}",
            user=user,
            password=server.passwords[user],
            error_cb=conn.on_error,
            allow_reconnect=False,
            name=f"test-{user}",
        )
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        await conn.nc.close()


async def collect(nc: Client, pattern: str) -> asyncio.Queue[Msg]:
    received: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        received.put_nowait(msg)

    await nc.subscribe(pattern, cb=on_msg)
    await nc.flush()  # the server has the subscription before anyone publishes
    return received


async def next_message(received: asyncio.Queue[Msg]) -> Msg:
    return await asyncio.wait_for(received.get(), WAIT)


# --- reading ------------------------------------------------------------------------------------


async def test_reader_receives_an_event_a_component_published(connect: OpenAs) -> None:
    reader = await connect("reader")
    monitor = await connect("position-monitor")
    received = await collect(reader.nc, "evt.>")

    await monitor.nc.publish("evt.positions.snapshot", b'{"n":1}')
    await monitor.nc.flush()

    msg = await next_message(received)
    assert (msg.subject, msg.data) == ("evt.positions.snapshot", b'{"n":1}')
    assert reader.errors == [] and monitor.errors == []


async def test_reader_cannot_publish_a_command(connect: OpenAs) -> None:
    reader = await connect("reader")
    router = await connect("router")
    strategy = await connect("strategy")
    received = await collect(router.nc, "cmd.>")

    await reader.nc.publish("cmd.router.supply", b"forged")
    await reader.nc.flush()
    assert await reader.violation() == 'nats: permissions violation for publish to "cmd.router.supply"'

    # the server refused the forged command before it reported the violation: what reaches the
    # router afterwards is the strategy's real command, and nothing came before it
    await strategy.nc.publish("cmd.router.supply", b"real")
    await strategy.nc.flush()
    msg = await next_message(received)
    assert (msg.subject, msg.data) == ("cmd.router.supply", b"real")
    assert received.empty()


async def test_reader_cannot_subscribe_to_commands(connect: OpenAs) -> None:
    reader = await connect("reader")
    await reader.nc.subscribe("cmd.>")
    await reader.nc.flush()
    assert await reader.violation() == 'nats: permissions violation for subscription to "cmd.>"'


# --- each component publishes its own subjects only ---------------------------------------------


@pytest.mark.parametrize(
    ("user", "forged", "own"),
    [
        ("strategy", "evt.positions.snapshot", "cmd.router.supply"),
        ("strategy", "sys.heartbeat.router", "sys.heartbeat.strategy"),
        ("position-monitor", "evt.risk.assessment", "evt.positions.snapshot"),
        ("gateway-binance", "evt.okx.filled", "evt.binance.filled"),
        ("gateway-binance", "evt.fund.deposit", "evt.transfers.completed"),
        ("gateway-binance", "sys.heartbeat.sim-okx", "sys.heartbeat.sim-binance"),
        ("feed", "sys.heartbeat.clock", "sys.heartbeat.market-data"),
        ("gateway-wallet", "cmd.wallet.transfer", "evt.fund.deposit"),
        ("router", "cmd.fund.deposit", "cmd.aave_v3.supply"),
        ("clock", "md.bar.binance.BTCUSDT", "sys.clock"),
        ("feed", "evt.binance.filled", "md.bar.binance.BTCUSDT"),
        ("recorder", "evt.pnl.snapshot", "dlq.evt.pnl.snapshot"),
    ],
)
async def test_a_component_cannot_publish_another_components_subject(
    connect: OpenAs, user: str, forged: str, own: str
) -> None:
    sender = await connect(user)
    watcher = await connect("recorder")  # subscribes to everything
    forged_seen = await collect(watcher.nc, forged)
    own_seen = await collect(watcher.nc, own)

    await sender.nc.publish(forged, b"forged")
    await sender.nc.flush()
    assert await sender.violation() == f'nats: permissions violation for publish to "{forged.lower()}"'

    await sender.nc.publish(own, b"own")
    await sender.nc.flush()
    msg = await next_message(own_seen)
    assert (msg.subject, msg.data) == (own, b"own")
    assert forged_seen.empty()
    assert len(sender.errors) == 1


async def test_a_gateway_uses_jetstream_and_its_journal(server: Server) -> None:
    transport = await NatsTransport.connect(server.url_of("gateway-binance"), name="test-gateway")
    try:
        await transport.ensure_streams()
        await transport.publish("evt.binance.filled", b"{}", msg_id="permissions-1")
        await transport.flush()  # raises if the stream's acknowledgement failed
        assert await transport.stream_message_count("BASIS_EVT") >= 1
        journal = await JetStreamJournal.open(transport.nc.jetstream())
        assert await journal.claim("permissions-key") is None
        assert await journal.claim("permissions-key") is not None
    finally:
        await transport.close()


async def test_a_monitor_cannot_write_the_execution_journal(connect: OpenAs) -> None:
    monitor = await connect("position-monitor")
    await monitor.nc.publish("$KV.basis_executed.forged", b"{}")
    await monitor.nc.flush()
    assert (
        await monitor.violation() == 'nats: permissions violation for publish to "$kv.basis_executed.forged"'
    )


# --- the operator: pings and heartbeats ----------------------------------------------------------


async def test_operator_pings_a_component_and_reads_its_heartbeat(connect: OpenAs) -> None:
    operator = await connect("operator")
    clock = await connect("clock")
    pings = await collect(clock.nc, "sys.control.clock")
    beats = await collect(operator.nc, "sys.heartbeat.>")

    await operator.nc.publish("sys.control.clock", b"ping")
    await operator.nc.flush()
    assert (await next_message(pings)).data == b"ping"
    await clock.nc.publish("sys.heartbeat.clock", b"beat")
    await clock.nc.flush()
    assert (await next_message(beats)).data == b"beat"
    assert operator.errors == [] and clock.errors == []


@pytest.mark.parametrize(
    ("action", "refused"),
    [
        ("publish", 'nats: permissions violation for publish to "cmd.router.supply"'),
        ("publish", 'nats: permissions violation for publish to "sys.heartbeat.clock"'),
        ("subscribe", 'nats: permissions violation for subscription to "evt.>"'),
    ],
)
async def test_operator_says_nothing_but_pings(connect: OpenAs, action: str, refused: str) -> None:
    operator = await connect("operator")
    subject = refused.split('"')[1]
    if action == "publish":
        await operator.nc.publish(subject, b"forged")
    else:
        await operator.nc.subscribe(subject)
    await operator.nc.flush()
    assert await operator.violation() == refused


# --- logging in -------------------------------------------------------------------------------------


async def test_a_transport_logs_in_with_credentials_or_is_refused(server: Server) -> None:
    address = f"nats://{server.nats.host}:{server.nats.port}"
    right = Credentials("strategy", server.passwords["strategy"])
    transport = await NatsTransport.connect(address, credentials=right, max_reconnect_attempts=1)
    await transport.publish("cmd.router.supply", b"{}", msg_id="login-1")
    await transport.close()

    wrong = Credentials("strategy", server.passwords["router"])
    with pytest.raises(TransportError) as refused:
        await NatsTransport.connect(address, credentials=wrong, max_reconnect_attempts=1)
    assert str(refused.value) == (
        f"cannot connect to NATS at {address}: Error(\"nats: 'Authorization Violation'\")"
    )
    assert server.passwords["router"] not in str(refused.value)
    with pytest.raises(TransportError, match="Authorization Violation"):  # no user at all
        await NatsTransport.connect(address, max_reconnect_attempts=1)


async def test_a_transport_logs_in_as_the_environment_says(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"nats://{server.nats.host}:{server.nats.port}"
    monkeypatch.setenv("BASIS_NATS_USER", "reader")
    monkeypatch.setenv("BASIS_NATS_PASSWORD", server.passwords["reader"])
    transport = await NatsTransport.connect(address, max_reconnect_attempts=1)
    await transport.close()
    monkeypatch.setenv("BASIS_NATS_PASSWORD", server.passwords["strategy"])
    with pytest.raises(TransportError, match="Authorization Violation"):
        await NatsTransport.connect(address, max_reconnect_attempts=1)


def test_credentials_come_in_pairs_and_never_show_the_password() -> None:
    login = Credentials("strategy", "pa55-word")
    assert repr(login) == str(login) == "Credentials(user='strategy', password='***')"
    assert login.environ() == {"BASIS_NATS_USER": "strategy", "BASIS_NATS_PASSWORD": "pa55-word"}
    assert from_env({}) is None
    assert from_env({"BASIS_NATS_USER": "reader", "BASIS_NATS_PASSWORD": "x"}) == Credentials("reader", "x")
    with pytest.raises(BusError, match=r"^\$BASIS_NATS_PASSWORD is set but \$BASIS_NATS_USER is not$"):
        from_env({"BASIS_NATS_PASSWORD": "x"})
    with pytest.raises(BusError, match=r"^\$BASIS_NATS_USER=reader is set but \$BASIS_NATS_PASSWORD is not$"):
        from_env({"BASIS_NATS_USER": "reader"})


async def test_embedded_server_runs_a_configuration_with_its_own_port_and_store(tmp_path: Path) -> None:
    users = p.system_permissions(["clock", "sim-binance", "router", "strategy", "market-data"])
    chosen = p.passwords([user.user for user in users], environ={})
    config = tmp_path / "nats.conf"
    port = free_port()
    p.write_config(config, p.render_config(users, chosen, port=1, host="127.0.0.1"))  # the port is ours
    async with EmbeddedNats(tmp_path / "nats", port=port, config=config) as embedded:
        gateway = Credentials("gateway-binance", chosen["gateway-binance"])
        transport = await NatsTransport.connect(embedded.url, credentials=gateway, max_reconnect_attempts=1)
        try:
            await transport.ensure_streams()  # JetStream from the command line, beside the file's users
            await transport.publish("evt.binance.filled", b"{}", msg_id="embedded-config-1")
            await transport.flush()
            assert await transport.stream_message_count("BASIS_EVT", "evt.binance.>") == 1
        finally:
            await transport.close()
        assert embedded.port == port and (embedded.store_dir / "jetstream").is_dir()
        with pytest.raises(TransportError, match="Authorization Violation"):
            await NatsTransport.connect(embedded.url, max_reconnect_attempts=1)


# --- the permissions as data ----------------------------------------------------------------------


def test_every_component_has_a_user_and_the_router_commands_every_venue() -> None:
    users = {perm.user: perm for perm in p.all_permissions(["binance", "wallet"])}
    assert list(users) == [
        "feed",
        "clock",
        "gateway-binance",
        "gateway-wallet",
        "sim-chain",
        "position-monitor",
        "exposure-monitor",
        "risk-monitor",
        "pnl-monitor",
        "strategy",
        "router",
        "recorder",
        "operator",
        "reader",
    ]
    assert users["router"].publish[:3] == ("evt.router.>", "cmd.binance.>", "cmd.wallet.>")
    assert users["recorder"].publish == (
        "sys.heartbeat.recorder",
        "dlq.>",
        "_INBOX.>",
        "$JS.API.>",
        "$JS.ACK.>",
    )
    assert users["reader"].publish == () and users["reader"].publish_deny == (">",)
    assert "evt.fund.>" in users["gateway-wallet"].publish
    assert "evt.fund.>" not in users["gateway-binance"].publish
    assert users["gateway-binance"].publish[:5] == (
        "evt.binance.>",
        "evt.transfers.completed",
        "$KV.basis_executed.>",
        "sys.heartbeat.gateway-binance",
        "sys.heartbeat.sim-binance",
    )


def test_each_process_logs_in_as_one_user() -> None:
    assert [
        p.user_for(name) for name in ("market-data", "sim-binance", "sim-chain", "router", "recorder")
    ] == [
        "feed",
        "gateway-binance",
        "sim-chain",
        "router",
        "recorder",
    ]


def test_a_system_has_the_users_of_its_processes_an_operator_and_a_reader() -> None:
    processes = [
        "recorder",
        "clock",
        "sim-binance",
        "sim-chain",
        "sim-okx",
        "router",
        "strategy",
        "market-data",
    ]
    users = {perm.user: perm for perm in p.system_permissions(processes, ["aave_v3", "wallet"])}
    assert list(users) == [
        "recorder",
        "clock",
        "gateway-binance",
        "sim-chain",
        "gateway-okx",
        "router",
        "strategy",
        "feed",
        "operator",
        "reader",
    ]
    assert users["router"].publish[:5] == (
        "evt.router.>",
        "cmd.binance.>",
        "cmd.okx.>",
        "cmd.aave_v3.>",
        "cmd.wallet.>",
    )
    assert users["sim-chain"].publish[:4] == (
        "evt.aave_v3.>",
        "evt.wallet.>",
        "evt.transfers.completed",
        "evt.fund.>",
    )
    assert users["operator"].publish == ("sys.control.>", "_INBOX.>")
    assert users["operator"].subscribe == ("sys.heartbeat.>", "_INBOX.>")
    with pytest.raises(BusError, match=r"^no NATS user for the components mystery; known: feed, clock, "):
        p.system_permissions(["clock", "sim-binance", "mystery"])
    with pytest.raises(BusError, match=r"^sim-chain runs: name the venues it hosts$"):
        p.system_permissions(["clock", "sim-chain"])


def test_a_server_configured_elsewhere_needs_every_password_from_the_environment() -> None:
    env = {"BASIS_NATS_PASSWORD_CLOCK": "c", "BASIS_NATS_PASSWORD_OPERATOR": "o"}
    assert p.required_passwords(["clock", "operator"], env) == {"clock": "c", "operator": "o"}
    with pytest.raises(
        BusError,
        match=r"^set the password of every user: \$BASIS_NATS_PASSWORD_GATEWAY_OKX, \$BASIS_NATS_PASSWORD_READER$",
    ):
        p.required_passwords(["clock", "gateway-okx", "operator", "reader"], env)


def test_password_comes_from_the_environment_or_is_generated() -> None:
    assert p.password_env("gateway-aave_v3") == "BASIS_NATS_PASSWORD_GATEWAY_AAVE_V3"
    chosen = p.passwords(["strategy", "router"], environ={"BASIS_NATS_PASSWORD_STRATEGY": "s3cret"})
    assert chosen["strategy"] == "s3cret"
    assert len(chosen["router"]) >= 32
    assert p.passwords(["router"], environ={})["router"] != chosen["router"]
    with pytest.raises(BusError, match=r"\$BASIS_NATS_PASSWORD_ROUTER holds a non-printable character"):
        p.passwords(["router"], environ={"BASIS_NATS_PASSWORD_ROUTER": "a\nb"})


def test_a_venue_must_not_take_another_components_subjects() -> None:
    with pytest.raises(BusError, match="venue 'positions' would own the subjects of another component"):
        p.all_permissions(["binance", "positions"])
    with pytest.raises(SubjectError, match=r"invalid subject token 'a\.b'"):
        p.all_permissions(["a.b"])


# --- the command ----------------------------------------------------------------------------------


def basis(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from basis.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


async def test_nats_config_writes_a_private_file_and_prints_no_password(tmp_path: Path) -> None:
    out = tmp_path / "nats.conf"
    out.write_text("old\n")
    out.chmod(0o644)  # an existing file is tightened before the passwords go in
    port = free_port()
    secret = "env-Secret-7f3a9"
    result = basis(
        "nats-config",
        *("--out", str(out), "--venue", "binance", "--venue", "wallet", "--port", str(port)),
        *("--host", "127.0.0.1", "--store-dir", str(tmp_path / "js")),
        env={"BASIS_NATS_PASSWORD_STRATEGY": secret},
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert result.stdout == ""
    assert "gateway-binance, gateway-wallet" in result.stderr and "reader" in result.stderr

    written = {
        user["user"]: user["password"] for user in json.loads(out.read_text())["authorization"]["users"]
    }
    assert written["strategy"] == secret
    for password in written.values():
        assert password not in result.stdout and password not in result.stderr

    # nats-server takes the file as it is, and the environment's password opens the strategy's user
    async with start_with_config(tmp_path / "run", out, port) as embedded:
        nc = await nats.connect(embedded.url, user="strategy", password=secret, allow_reconnect=False)
        await nc.close()


def test_nats_config_rejects_a_bad_venue(tmp_path: Path) -> None:
    out = tmp_path / "nats.conf"
    result = basis("nats-config", "--out", str(out), "--venue", "a.b", env={})
    assert result.returncode == 2
    assert result.stderr.startswith("basis: error: Invalid value for '--venue': invalid subject token 'a.b'")
    assert not out.exists()
