"""System messages on ``sys.*``: clock, heartbeats, control."""

from __future__ import annotations

from typing import Literal

from .base import Message


class ClockTicked(Message, frozen=True, kw_only=True):
    """The simulation clock moved to ``ts``; ``final`` marks the end of a replay."""

    final: bool = False


class Heartbeat(Message, frozen=True, kw_only=True):
    component: str
    processed: int
    dead_lettered: int


class Control(Message, frozen=True, kw_only=True):
    """Ask a component to ``ping`` (answer with a Heartbeat) or ``stop``."""

    component: str
    command: Literal["ping", "stop"]


System = ClockTicked | Heartbeat | Control
