"""The change feed readers wait on (``app.state.changes``): ``version`` goes up after every
committed batch that changed the read models, and ``wait`` returns when it passed ``after``."""

from __future__ import annotations

import asyncio
import contextlib


class ChangeFeed:
    def __init__(self) -> None:
        self.version = 0
        self._condition: asyncio.Condition | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    def committed(self) -> None:
        """Called (on the event loop) after a batch that changed read models committed."""
        self.version += 1
        condition = self._cond()

        async def notify() -> None:
            async with condition:
                condition.notify_all()

        task = asyncio.get_running_loop().create_task(notify())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def wait(self, after: int, timeout: float) -> int:
        """The version once it is greater than ``after``, or the current one after
        ``timeout`` seconds."""
        condition = self._cond()
        with contextlib.suppress(TimeoutError):
            async with condition:
                await asyncio.wait_for(condition.wait_for(lambda: self.version > after), timeout)
        return self.version
