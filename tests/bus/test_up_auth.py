"""``basis up --auth``: the embedded nats-server runs with one user per component; each process logs in
as its own user with the password it finds in its environment (never on its command line), the strategy
trades through the router, ``basis status`` pings as ``operator``, a wrong password is refused, and no
log of the run holds a password or a refused publish."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from basis.bus import permissions as p
from basis.bus.credentials import Credentials
from basis.bus.errors import TransportError
from basis.bus.transport.nats import NatsTransport
from basis.process import FEED, system_components

BASIS = [str(Path(sys.executable).parent / "basis")]
OPERATOR_PASSWORD = "operator-Pw-31f9"
READER_PASSWORD = "reader-Pw-88c2"


def children(parent: int) -> dict[str, int]:
    """The component processes of the supervisor ``parent``, by component name."""
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "basis.components "], capture_output=True)
    named: dict[str, int] = {}
    for pid in (int(word) for word in found.stdout.split()):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        named[argv[argv.index(b"basis.components") + 1].decode()] = pid
    return named


def environ_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


def read_config(path: Path, deadline: float) -> dict[str, object]:
    while True:
        try:
            config: dict[str, object] = json.loads(path.read_text())
            return config
        except (OSError, ValueError):
            assert time.monotonic() < deadline, f"{path} was not written"
            time.sleep(0.2)


def status(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = [*BASIS, "status", "--mode", "btc_basis", "--component", FEED, "--nats", url, "--timeout", "2"]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.slow
async def test_up_auth_runs_every_component_as_its_own_user(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    base = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_NATS_")}
    env = base | {
        "BASIS_NATS_PASSWORD_OPERATOR": OPERATOR_PASSWORD,
        "BASIS_NATS_PASSWORD_READER": READER_PASSWORD,
    }
    args = ["-v", "up", "--mode", "btc_basis", "--env", "paper", "--auth", "--speed", "36000"]
    up_log_path = tmp_path / "up.log"
    up_log = up_log_path.open("wb")
    up = subprocess.Popen(
        [*BASIS, *args, "--run-dir", str(run_dir), "--run-id", "up-auth"],
        stdout=subprocess.DEVNULL,
        stderr=up_log,
        env=env,
    )
    reader: NatsTransport | None = None
    try:
        config_path = run_dir / "nats.conf"
        config = read_config(config_path, time.monotonic() + 60)
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        users = config["authorization"]["users"]  # type: ignore[index]
        passwords: dict[str, str] = {user["user"]: user["password"] for user in users}
        components = [*system_components("btc_basis"), FEED]
        assert list(passwords) == [*(p.user_for(name) for name in components), "operator", "reader"]
        assert passwords["operator"] == OPERATOR_PASSWORD and passwords["reader"] == READER_PASSWORD
        url = f"nats://{config['listen']}"

        # the reader listens before the feed starts, so it sees the capital arrive and the strategy enter
        reader = await NatsTransport.connect(
            url, credentials=Credentials("reader", READER_PASSWORD), reconnect_time_wait=0.2
        )
        seen: set[str] = set()

        async def keep(msg: Msg) -> None:
            seen.add(msg.subject)

        await reader.nc.subscribe("evt.>", cb=keep)
        await reader.nc.flush()

        wrong = Credentials("strategy", "not-" + passwords["strategy"])
        with pytest.raises(TransportError, match="Authorization Violation"):
            await NatsTransport.connect(url, credentials=wrong, max_reconnect_attempts=1)

        operator = base | {"BASIS_NATS_USER": "operator", "BASIS_NATS_PASSWORD": OPERATOR_PASSWORD}
        deadline = time.monotonic() + 90
        while (healthy := await asyncio.to_thread(status, url, operator)).returncode != 0:
            assert time.monotonic() < deadline and up.poll() is None, up_log_path.read_text()
            await asyncio.sleep(0.5)
        assert [line.split()[0] for line in healthy.stdout.splitlines()] == components
        anonymous = await asyncio.to_thread(status, url, base)
        assert anonymous.returncode == 1 and "Authorization Violation" in anonymous.stderr

        # the feed deposits (cmd.fund), the chain books it, the strategy decides and sends its transfers to
        # the router (cmd.router), the router to the wallet (cmd.wallet), which fills them: each step
        # published by its own user
        flow = {"evt.fund.deposit", "evt.strategy.decision", "evt.wallet.accepted", "evt.wallet.filled"}
        deadline = time.monotonic() + 60
        while not flow <= seen:
            assert time.monotonic() < deadline, f"not seen: {sorted(flow - seen)}"
            await asyncio.sleep(0.5)

        running = children(up.pid)
        assert sorted(running) == sorted(components)
        for name, pid in running.items():
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert not [user for user, pw in passwords.items() if pw.encode() in command_line], name
            own = p.user_for(name)
            environment = environ_of(pid)
            assert (environment["BASIS_NATS_USER"], environment["BASIS_NATS_PASSWORD"]) == (
                own,
                passwords[own],
            )
            others = [user for user, pw in passwords.items() if user != own and pw in str(environment)]
            assert others == [], f"{name} holds the passwords of {others}"
    finally:
        if reader is not None:
            await reader.close()
        up.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(up.wait, 60)
        up_log.close()
    assert code == 0, up_log_path.read_text()

    logs = [up_log_path, *run_dir.rglob("*.log")]
    assert run_dir / "nats" / "nats-server.log" in logs and run_dir / "strategy.log" in logs
    for log in logs:
        text = log.read_text(errors="replace")
        assert not [user for user, pw in passwords.items() if pw in text], log
        assert "violation" not in text.lower(), f"{log}: a process was refused what it had to do\n{text}"


def run_up(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BASIS, "up", "--mode", "btc_basis", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_up_auth_on_a_server_of_its_own_needs_every_password(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_NATS_")}
    given = base | {"BASIS_NATS_PASSWORD_OPERATOR": "o", "BASIS_NATS_PASSWORD_READER": "r"}
    result = run_up("--auth", "--nats", "nats://127.0.0.1:1", "--run-dir", str(tmp_path), env=given)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "basis: error: --auth: set the password of every user: $BASIS_NATS_PASSWORD_CLOCK, "
        "$BASIS_NATS_PASSWORD_GATEWAY_BINANCE, $BASIS_NATS_PASSWORD_GATEWAY_BYBIT, $BASIS_NATS_PASSWORD_SIM_CHAIN, "
        "$BASIS_NATS_PASSWORD_GATEWAY_OKX, $BASIS_NATS_PASSWORD_POSITION_MONITOR, "
        "$BASIS_NATS_PASSWORD_EXPOSURE_MONITOR, $BASIS_NATS_PASSWORD_RISK_MONITOR, "
        "$BASIS_NATS_PASSWORD_PNL_MONITOR, $BASIS_NATS_PASSWORD_ROUTER, $BASIS_NATS_PASSWORD_STRATEGY, "
        "$BASIS_NATS_PASSWORD_FEED (see 'basis up --help')"
    )
    assert list(tmp_path.iterdir()) == []


def test_up_auth_is_for_paper(tmp_path: Path) -> None:
    result = run_up("--auth", "--env", "simulation", "--run-dir", str(tmp_path), env=dict(os.environ))
    assert (
        result.returncode == 2
        and result.stderr.splitlines()[-1]
        == "basis: error: --auth is for --env paper (see 'basis up --help')"
    )
