"""The command bus: many concurrent callers, one writer.

Callers await ``submit``; a single worker takes whatever commands are waiting (up to
``max_batch``), has the ledger decide them in one transaction on its own thread, and answers
each caller. Nothing waits on purpose: at low load a batch is one command, under load batches
grow by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .commands import Command, Outcome
from .ledger import WalletLedger

BatchObserver = Callable[[list[Command], list[Outcome], float], None]


class CommandBus:
    def __init__(
        self, ledger: WalletLedger, *, max_batch: int = 256, observe: BatchObserver | None = None
    ) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self._observe = observe
        self._queue: asyncio.Queue[tuple[Command, asyncio.Future[Outcome]]] = asyncio.Queue()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wallet-writer")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wallet-command-bus")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._writer.shutdown(wait=True)

    async def submit(self, command: Command) -> Outcome:
        if self._task is None:
            raise RuntimeError("the command bus is not running")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((command, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            commands = [command for command, _ in batch]
            started = time.perf_counter()
            try:
                outcomes = await loop.run_in_executor(self._writer, self.ledger.execute, commands)
            except Exception as error:  # the store is down: every caller of the batch hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
                if self._observe is not None:
                    self._observe(commands, outcomes, time.perf_counter() - started)
            finally:
                for _ in batch:
                    self._queue.task_done()
