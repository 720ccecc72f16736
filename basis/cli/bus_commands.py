"""``basis subjects``, ``basis schema``, ``basis nats``, ``basis nats-config``, ``basis tail``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from basis.bus.messages import Message
    from basis.bus.transport.nats import NatsTransport

log = logging.getLogger("basis.tail")


@click.command()
def subjects() -> None:
    """Print the subject hierarchy with the message type of each subject."""
    from basis.bus import subjects as s

    width = max(len(pattern) for pattern, _ in s.HIERARCHY)
    for pattern, type_name in s.HIERARCHY:
        stream = s.stream_of(pattern)
        where = stream.name if stream else "plain"
        click.echo(f"{pattern:<{width}}  {type_name:<22} {where}")


@click.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def schema(out: Path | None) -> None:
    """Write the JSON Schema of every message type (stdout by default)."""
    from basis.bus.codec import json_schemas

    text = json.dumps(json_schemas(), indent=2, sort_keys=True)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@click.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=4222, show_default=True, help="0 = a free port."
)
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/nats"),
    show_default=True,
    help="JetStream storage directory.",
)
def nats(port: int, store_dir: Path) -> None:
    """Run the bundled nats-server (JetStream on) in the foreground for other tools."""
    from basis.bus.embedded import serve_forever

    raise SystemExit(serve_forever(port=port, store_dir=store_dir))


@click.command("nats-config")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the configuration to this file (mode 0600: it holds passwords).",
)
@click.option(
    "--venue",
    "venues",
    multiple=True,
    metavar="VENUE",
    help="A venue to run a gateway for (repeat; default: binance, bybit, okx, aave_v3, wallet, lido, "
    "etherfi, uniswap, instadapp).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=4222, show_default=True)
@click.option("--host", default=None, help="Listen on this address only (default: every interface).")
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/nats"),
    show_default=True,
    help="JetStream storage directory (relative to where nats-server runs).",
)
def nats_config(out: Path, venues: tuple[str, ...], port: int, host: str | None, store_dir: Path) -> None:
    """Write a nats-server configuration with one user per component, each allowed to publish only its
    own subjects, and a read-only user 'reader'.

    Each password comes from $BASIS_NATS_PASSWORD_<USER> (upper case, '-' as '_'), or is generated;
    passwords are written to the file only, never printed.
    """
    from basis.bus import permissions as p
    from basis.bus.errors import BusError

    try:
        users = p.all_permissions(venues or p.DEFAULT_VENUES)
    except BusError as exc:
        raise click.BadParameter(str(exc), param_hint="'--venue'") from exc
    names = [user.user for user in users]
    chosen = p.passwords(names)
    p.write_config(out, p.render_config(users, chosen, port=port, host=host, store_dir=store_dir))
    from_env = [name for name in names if os.environ.get(p.password_env(name))]
    click.echo(f"wrote {out} (mode 0600) with users: {', '.join(names)}", err=True)
    click.echo(
        f"passwords from ${p.PASSWORD_ENV_PREFIX}<USER>: {', '.join(from_env) or 'none'}; "
        f"generated for the others (read them in {out})",
        err=True,
    )


# --- basis tail ----------------------------------------------------------------------------------

MAX_VALUE = 60
"""Characters of one rendered field value; longer values end in ``...``."""
MAX_ERROR = 200
"""Characters of a decode error."""
_ENVELOPE_FIELDS = ("id", "ts", "correlation_id", "causation_id", "schema_version")
"""The fields every message shares (:class:`~basis.bus.messages.Message`): rendered after its own."""


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clock(at: datetime) -> str:
    return f"{at:%H:%M:%S}.{at.microsecond // 1000:03d}"


def _value(name: str, value: Any) -> str:
    """One field value: plain text for a simple string, UTC ISO time for ``ts``, JSON otherwise."""
    import msgspec

    if name == "ts" and isinstance(value, int):
        try:
            at = datetime.fromtimestamp(value // 1_000_000 / 1_000, UTC)
        except (OverflowError, OSError, ValueError):
            return str(value)
        return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        text = value
    else:
        text = msgspec.json.encode(msgspec.to_builtins(value)).decode()
    return _truncate(text, MAX_VALUE)


def render_fields(message: Message) -> str:
    """``key=value`` for every field of ``message`` that differs from its default: the message type's own
    fields first, then the envelope's (``id``, ``ts``, ...)."""
    import msgspec

    pairs: list[tuple[str, str]] = []
    for info in msgspec.structs.fields(message):
        value = getattr(message, info.name)
        if info.default is not msgspec.NODEFAULT and value == info.default:
            continue
        if info.default_factory is not msgspec.NODEFAULT and value == info.default_factory():
            continue
        pairs.append((info.name, _value(info.name, value)))
    pairs.sort(key=lambda pair: pair[0] in _ENVELOPE_FIELDS)  # stable: each group keeps its order
    return " ".join(f"{name}={text}" for name, text in pairs)


def render_line(subject: str, data: bytes, arrived: datetime) -> str:
    """``HH:MM:SS.mmm  <subject>  <Type>  key=value ...`` (``arrived`` in local time), or
    ``HH:MM:SS.mmm  <subject>  undecodable: <decode error>`` for a payload that is not a message."""
    from basis.bus.codec import decode
    from basis.bus.errors import DecodeError

    try:
        message = decode(data)
    except DecodeError as exc:
        error = _truncate(" ".join(str(exc).split()), MAX_ERROR)
        return f"{_clock(arrived)}  {subject}  undecodable: {error}"
    return f"{_clock(arrived)}  {subject}  {type(message).__name__}  {render_fields(message)}"


def render_json(data: bytes) -> str:
    """The payload on one line: a JSON payload as it is (line breaks removed), anything else as a JSON
    string of its text, so every line parses as JSON."""
    import msgspec

    try:
        return msgspec.json.format(data, indent=0).decode()
    except msgspec.DecodeError:
        return msgspec.json.encode(data.decode("utf-8", errors="replace")).decode()


class TailError(Exception):
    """``basis tail`` cannot go on (exit status 1)."""


async def _connect(url: str, timeout: float) -> NatsTransport:
    """Connect within ``timeout`` seconds; once connected, a dropped connection is retried forever (and
    said so on stderr). Raises :class:`TailError` naming the server and the last error."""
    import nats.errors
    from nats.aio.client import Client

    from basis.bus.credentials import login_options
    from basis.bus.errors import BusError
    from basis.bus.transport.nats import NatsTransport

    try:
        login = login_options()
    except BusError as exc:
        raise TailError(str(exc)) from None
    nc = Client()
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)
        log.debug("nats %s: %r", url, exc)

    async def on_disconnected() -> None:
        if nc.is_reconnecting:  # not when tail itself closes the connection
            click.echo(f"basis tail: disconnected from {url}; reconnecting", err=True)

    async def on_reconnected() -> None:
        click.echo(f"basis tail: reconnected to {url}", err=True)

    options: dict[str, Any] = {  # nats-py takes float seconds, though its hints say int
        "connect_timeout": min(timeout, 2.0),
        "reconnect_time_wait": 0.25,
    }
    connecting = nc.connect(
        [u.strip() for u in url.split(",") if u.strip()],
        name="basis-tail",
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        max_reconnect_attempts=-1,
        **options,
        **login,
    )
    try:
        await asyncio.wait_for(connecting, timeout)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        last = errors[-1] if errors else exc
        raise TailError(f"cannot connect to NATS at {url} within {timeout:g}s: {last!r}") from exc
    return NatsTransport(nc)


async def tail_bus(
    pattern: str,
    url: str,
    show: Callable[[str, bytes], None],
    *,
    count: int | None = None,
    connect_timeout: float = 5.0,
) -> None:
    """Call ``show(subject, payload)`` for every message on ``pattern`` until ``count`` messages were
    shown (forever when None), then close the connection. A :class:`BrokenPipeError` from ``show`` ends
    it too, and is raised again once the connection is closed."""
    from basis.bus.transport.base import Envelope

    transport = await _connect(url, connect_timeout)
    done = asyncio.Event()
    shown = 0
    broken: BrokenPipeError | None = None

    async def on_envelope(envelope: Envelope) -> None:
        nonlocal shown, broken
        if done.is_set():
            return
        try:
            show(envelope.subject, envelope.data)
        except BrokenPipeError as exc:
            broken = exc
            done.set()
            return
        shown += 1
        if count is not None and shown >= count:
            done.set()

    loop = asyncio.get_running_loop()
    stops = (signal.SIGINT, signal.SIGTERM)
    try:
        for sig in stops:  # Ctrl-C ends the wait, not whatever the loop happens to be running
            loop.add_signal_handler(sig, done.set)
        await transport.subscribe(pattern, on_envelope)
        log.info("subscribed to %s on %s", pattern, transport.url)
        await done.wait()
    finally:
        for sig in stops:
            loop.remove_signal_handler(sig)
        # tail only reads: nothing to flush or drain, even while reconnecting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(transport.nc.close(), 5.0)
    if broken is not None:
        raise broken


@click.command()
@click.argument("pattern")
@click.option(
    "--nats",
    "nats_url",
    envvar="BASIS_NATS_URL",
    default="nats://127.0.0.1:4222",
    show_default=True,
    metavar="URL",
    help="NATS URL (env BASIS_NATS_URL).",
)
@click.option("--json", "raw", is_flag=True, help="Print each raw JSON payload, one per line.")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Exit after N lines (undecodable payloads count).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the server before giving up.",
)
def tail(pattern: str, nats_url: str, raw: bool, count: int | None, connect_timeout: float) -> None:
    """Print every message on PATTERN (NATS wildcards: '*' one token, '>' the rest) as it arrives.

    One line per message: 'HH:MM:SS.mmm  subject  Type  key=value ...' (arrival time, fields that
    differ from their default, long values cut), or 'undecodable: <error>' for a payload that is not a
    message. Ctrl-C ends it. A server that cannot be reached within --connect-timeout is exit status 1;
    a connection lost later is retried until it comes back (said so on stderr). On a server with users
    (basis up --auth) it logs in as $BASIS_NATS_USER (reader) with $BASIS_NATS_PASSWORD.
    """
    from basis.bus.errors import SubjectError
    from basis.bus.subjects import validate_pattern

    try:
        validate_pattern(pattern)
    except SubjectError as exc:
        raise click.BadParameter(str(exc), param_hint="'PATTERN'") from None

    def show(subject: str, data: bytes) -> None:
        line = render_json(data) if raw else render_line(subject, data, datetime.now())
        click.echo(line)

    try:
        asyncio.run(tail_bus(pattern, nats_url, show, count=count, connect_timeout=connect_timeout))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # the reader went away (`basis tail ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except TailError as exc:
        click.echo(f"basis: error: {exc}", err=True)
        raise SystemExit(1) from None


def register(group: click.Group) -> None:
    for command in (subjects, schema, nats, nats_config, tail):
        group.add_command(command)
