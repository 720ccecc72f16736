"""Components that also run a loop of their own on wall time (the clock, the paper feed).

A :class:`LoopingComponent` starts :meth:`LoopingComponent.loop` as a task once it has subscribed, and
:meth:`close` (the process runner calls it on the way out) cancels the task and waits for it. The loop
logs what ends it early; a stopped loop never takes the process down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from basis.bus.component import Component

log = logging.getLogger("basis.components.looping")


class LoopingComponent(Component):
    """A component whose :meth:`loop` runs from :meth:`start` until :meth:`close` (or ``stop``)."""

    _task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._guarded(), name=self.name)

    async def loop(self) -> None:
        """What the component does on its own (until ``self.stopped`` is set, or it is cancelled)."""

    async def _guarded(self) -> None:
        try:
            await self.loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: its loop stopped", self.name)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
