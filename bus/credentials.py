"""How a process logs in to NATS: its user and password, taken from the environment.

A process of a system started with ``basis up --auth`` finds its own NATS user in ``$BASIS_NATS_USER``
and its password in ``$BASIS_NATS_PASSWORD``. They travel through the environment, never on the command
line: any user of the host can read a command line (``ps``, ``/proc/<pid>/cmdline``), while a process's
environment is readable by its owner only. :meth:`NatsTransport.connect
<basis.bus.transport.nats.NatsTransport.connect>`, ``basis status`` and ``basis tail`` log in with them
when they are set, and connect without a user when neither is.

A :class:`Credentials` never shows its password: ``repr`` and ``str`` print ``***`` in its place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BusError

USER_ENV = "BASIS_NATS_USER"
PASSWORD_ENV = "BASIS_NATS_PASSWORD"
MASK = "***"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A NATS user and its password."""

    user: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.user:
            raise BusError("a NATS user needs a name")
        if not self.password:
            raise BusError(f"NATS user {self.user!r} has no password")

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password={MASK!r})"

    __str__ = __repr__

    def environ(self) -> dict[str, str]:
        """The environment variables a child process finds them in."""
        return {USER_ENV: self.user, PASSWORD_ENV: self.password}

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``nats.connect`` that log in with them."""
        return {"user": self.user, "password": self.password}


def from_env(environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials in ``$BASIS_NATS_USER`` and ``$BASIS_NATS_PASSWORD`` (None when neither is set);
    one without the other is an error, not an anonymous connection."""
    env = os.environ if environ is None else environ
    user, password = env.get(USER_ENV, ""), env.get(PASSWORD_ENV, "")
    if not user and not password:
        return None
    if not user:
        raise BusError(f"${PASSWORD_ENV} is set but ${USER_ENV} is not")
    if not password:
        raise BusError(f"${USER_ENV}={user} is set but ${PASSWORD_ENV} is not")
    return Credentials(user, password)


def login_options(credentials: Credentials | None = None) -> dict[str, Any]:
    """The ``nats.connect`` options of ``credentials``, else of the environment (:func:`from_env`);
    none when neither names a user."""
    chosen = credentials if credentials is not None else from_env()
    return chosen.options() if chosen is not None else {}
