"""``docker-compose.yml`` against the component registry (``basis.process``), without a Docker engine.

The file is read with pyyaml (anchors and ``<<`` merge keys resolved as Compose resolves them). Every
component that can run as a process has exactly one service running ``basis component run <name>`` on the
compose NATS server; nothing else is run; NATS fsyncs every JetStream write (checked on the real
nats-server binary, started with the service's own arguments and configuration); the recorder writes to
the postgres service.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from basis.bus.embedded import free_port, nats_server_binary
from basis.bus.store.postgres import PostgresLocation
from basis.cli.process_commands import run as run_command
from basis.process import COMPONENTS, MODE_COMPONENTS, gateway_names

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
MODE = "btc_basis"
NATS_URL = "nats://nats:4222"
RUN = ["basis", "component", "run"]


@cache
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def argv(service: dict[str, Any]) -> list[str]:
    """The service's command as a list (Compose splits a string command the way a shell would)."""
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def options(args: list[str]) -> dict[str, str]:
    """``--name value`` pairs of ``args`` (the last one wins, as click does)."""
    return {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}


@cache
def gateways() -> frozenset[str]:
    return frozenset(gateway_names(MODE))


def needs_mode() -> set[str]:
    return {*MODE_COMPONENTS, *gateways()}


def expected() -> set[str]:
    """Every component of the registry that the btc_basis system runs."""
    return {*COMPONENTS, *needs_mode(), "recorder"}


def component_services() -> dict[str, tuple[str, list[str]]]:
    """``{service: (component, its arguments after the name)}`` of every service that runs a component."""
    return {
        name: (args[len(RUN)], args[len(RUN) + 1 :])
        for name, service in services().items()
        if (args := argv(service))[: len(RUN)] == RUN and len(args) > len(RUN)
    }


def depends_on(service: dict[str, Any]) -> set[str]:
    deps = service.get("depends_on", [])
    return set(deps) if isinstance(deps, (list, dict)) else set()


def test_the_registry_has_the_components_of_btc_basis() -> None:
    """Guards the rest: if the registry changes, this file's expectations are read from it again."""
    assert gateways() == {"sim-binance", "sim-bybit", "sim-okx", "sim-chain"}
    assert expected() >= {"clock", "position-monitor", "strategy", "router", "recorder"}


def test_every_component_runs_in_exactly_one_service() -> None:
    counts = Counter(component for component, _ in component_services().values())
    missing = sorted(expected() - set(counts))
    assert not missing, f"docker-compose.yml runs no service for component(s): {', '.join(missing)}"
    twice = sorted(name for name, n in counts.items() if n > 1)
    assert not twice, f"docker-compose.yml runs component(s) in more than one service: {', '.join(twice)}"


def test_no_service_runs_an_unknown_component() -> None:
    unknown = sorted(
        f"{service} runs {component!r}"
        for service, (component, _) in component_services().items()
        if component not in expected()
    )
    assert not unknown, f"unknown component(s) in docker-compose.yml: {'; '.join(unknown)}"


def test_every_other_service_is_infrastructure() -> None:
    others = set(services()) - set(component_services())
    assert others == {"nats", "postgres"}, f"services that run no component: {sorted(others)}"


def test_each_component_connects_to_the_compose_nats_server() -> None:
    wrong = sorted(
        f"{component} (--nats {options(args).get('--nats')})"
        for component, args in component_services().values()
        if options(args).get("--nats") != NATS_URL
    )
    assert not wrong, f"component(s) not on {NATS_URL}: {', '.join(wrong)}"


def test_components_built_from_a_mode_get_btc_basis_and_the_others_none() -> None:
    for component, args in component_services().values():
        mode = options(args).get("--mode")
        if component in needs_mode():
            assert mode == MODE, f"{component} needs --mode {MODE}, has --mode {mode}"
        else:
            assert mode is None, f"{component} takes no mode, has --mode {mode}"


def test_every_component_command_parses_with_the_cli() -> None:
    """Catches a misspelt option: each command line is parsed (not run) by ``basis component run``."""
    for component, args in component_services().values():
        try:
            with run_command.make_context("run", [component, *args]) as ctx:
                assert ctx.params["name"] == component
        except click.UsageError as exc:
            pytest.fail(f"{component}: {exc.format_message()}")


def test_components_share_one_run_so_the_log_of_the_system_is_one_run() -> None:
    runs = {
        component: options(args).get("--run-id")
        for component, args in component_services().values()
        if component != "recorder"  # it records the run of each message's header
    }
    assert len(set(runs.values())) == 1 and None not in runs.values(), f"run ids: {runs}"


def test_every_component_restarts_depends_on_nats_and_runs_the_repository_image() -> None:
    for name in component_services():
        service = services()[name]
        assert service.get("restart") == "unless-stopped", f"{name}: restart {service.get('restart')!r}"
        assert "nats" in depends_on(service), f"{name} does not depend on nats"
        assert service.get("build") == ".", f"{name}: build {service.get('build')!r}, not the Dockerfile"
    assert (REPO / "Dockerfile").is_file()


def test_the_recorder_stores_into_the_postgres_service() -> None:
    recorder = next(n for n, (component, _) in component_services().items() if component == "recorder")
    _, args = component_services()[recorder]
    store = options(args).get("--store")
    assert store is not None, "the recorder has no --store"
    location = PostgresLocation.parse(store)
    postgres = services()["postgres"]
    env = postgres["environment"]
    assert str(postgres["image"]).startswith("postgres:")
    assert (location.host, location.port) == ("postgres", 5432)
    assert (location.user, location.password, location.dbname) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        env["POSTGRES_DB"],
    )
    assert {"nats", "postgres"} <= depends_on(services()[recorder])


def nats_config(args: list[str]) -> str:
    """The text of the configuration file the nats service is started with (``-c PATH``)."""
    path = options(args).get("-c") or options(args).get("--config")
    assert path is not None, f"nats runs without a configuration file: {args}"
    mounted = {c["target"]: c["source"] for c in services()["nats"].get("configs", [])}
    assert path in mounted, f"nats reads {path}, but no config is mounted there (mounted: {mounted})"
    content: str = compose()["configs"][mounted[path]]["content"]
    return content


def local(args: list[str], config: Path, store: Path, port: int, http_port: int) -> list[str]:
    """The nats service's arguments with its paths and ports replaced by local ones."""
    replaced = {"-c": str(config), "--config": str(config), "-sd": str(store), "--store_dir": str(store)}
    replaced |= {"-m": str(http_port), "--http_port": str(http_port)}
    out: list[str] = []
    for i, arg in enumerate(args):
        previous = args[i - 1] if i else ""
        out.append(replaced.get(previous, arg))
    if "-m" not in args and "--http_port" not in args:
        out += ["-m", str(http_port)]
    return [*out, "-a", "127.0.0.1", "-p", str(port)]


@pytest.fixture
def nats_varz(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``/varz`` of the real nats-server started as the nats service starts it."""
    service = services()["nats"]
    assert str(service["image"]).startswith("nats:")
    args = argv(service)
    config = tmp_path / "nats.conf"
    config.write_text(nats_config(args), encoding="utf-8")
    http_port = free_port()
    log = (tmp_path / "nats.log").open("wb")
    command = [str(nats_server_binary()), *local(args, config, tmp_path / "store", free_port(), http_port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (tmp_path / "nats.log").read_text(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/varz", timeout=1) as answer:
                    varz: dict[str, Any] = json.load(answer)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "nats-server did not answer /varz within 10 s"
                time.sleep(0.05)
        yield varz
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_nats_runs_jetstream_with_sync_always(nats_varz: dict[str, Any], tmp_path: Path) -> None:
    jetstream = nats_varz.get("jetstream", {}).get("config")
    assert jetstream is not None, "the nats service does not enable JetStream"
    assert jetstream.get("sync_always") is True, f"JetStream does not fsync every write: {jetstream}"
    assert jetstream["store_dir"].startswith(str(tmp_path / "store")), "the store is not the -sd volume"
    store = options(argv(services()["nats"])).get("-sd")
    volumes = [str(v).split(":")[1] for v in services()["nats"].get("volumes", [])]
    assert store in volumes, f"the JetStream store {store} is not on a volume (volumes at {volumes})"
