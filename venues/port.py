"""The gateway port: what the platform may rely on from any gateway (:class:`VenueGateway`).

Kept apart from :mod:`.gateway` (which re-exports it) because that module is compiled with mypyc, and a
class mypyc compiles is no longer a ``typing.Protocol`` (``runtime_checkable`` refuses it).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from basis.bus.messages import Instruction


@runtime_checkable
class VenueGateway(Protocol):
    """What the rest of the platform may rely on from any gateway, whatever its environment."""

    name: str
    """Component name (heartbeats, control subject)."""

    venue: str
    """The venue token of ``cmd.<venue>.*`` and ``evt.<venue>.*``."""

    async def start(self) -> None:
        """Subscribe to the venue's instructions and the market data / events it needs."""
        ...

    async def handle(self, instruction: Instruction) -> None:
        """Answer one instruction on the bus (accepted + filled, or rejected)."""
        ...

    def balances(self) -> dict[str, float]:
        """The gateway's own view of the balances it books, by canonical instrument key."""
        ...
