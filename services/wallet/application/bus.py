"""The command bus: many concurrent callers, one writer.

Callers await ``submit``; a single worker takes whatever commands are waiting (up to
``max_batch``), has the ledger decide them in one transaction on its own thread, and answers
each caller. Nothing waits on purpose: at low load a batch is one command, under load batches
grow by themselves.

What a caller can count on when the store is slow or down:

* **Back-pressure**: at most ``max_queued`` commands wait; one more is refused at once
  (:class:`Overloaded`) instead of queueing without end.
* **A deadline**: ``submit`` answers within ``deadline`` seconds. A command whose deadline
  passed is not decided later: the writer drops it from the queue, and the ledger leaves it
  out of a batch it had not yet saved (:data:`~.ledger.EXPIRED`).
* **Store outages** answer :class:`StoreUnavailable` as soon as the batch fails (the event
  store's own timeouts are short, see ``adapters/event_store.py``), never as a bug.

Every one of them means "not decided, nothing stored": retry with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .commands import Command, Outcome
from .ledger import EXPIRED, WalletLedger
from .undecided import DeadlineExceeded, Overloaded, StoreUnavailable

BatchObserver = Callable[[list[Command], list[Outcome], float], None]


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: a field-wise __eq__
class _Waiting:  # of the commands inside cost more per batch than deciding them
    command: Command
    future: asyncio.Future[Outcome]
    deadline: float  # time.monotonic()


class _Expired(Exception):
    """Set on a caller's future at its deadline (an error of the batch stays that error)."""


def _expire(future: asyncio.Future[Outcome]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class CommandBus:
    def __init__(
        self,
        ledger: WalletLedger,
        *,
        max_batch: int = 256,
        max_queued: int = 10_000,
        deadline: float = 5.0,
        observe: BatchObserver | None = None,
    ) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self.deadline = deadline
        self._observe = observe
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue(maxsize=max_queued)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wallet-writer")
        self._task: asyncio.Task[None] | None = None
        #: When the last batch failed because the store could not be reached (None: it did
        #: not), so that a caller timing out behind it hears why.
        self._store_down_since: float | None = None

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

    async def submit(self, command: Command, *, deadline: float | None = None) -> Outcome:
        """The ledger's outcome, within ``deadline`` seconds (the bus's default if None).

        Raises :class:`Overloaded`, :class:`DeadlineExceeded` or :class:`StoreUnavailable`
        when the command was not decided (and never will be from this call)."""
        if self._task is None:
            raise RuntimeError("the command bus is not running")
        timeout = self.deadline if deadline is None else deadline
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        try:
            self._queue.put_nowait(_Waiting(command, future, time.monotonic() + timeout))
        except asyncio.QueueFull:
            raise Overloaded(f"{self._queue.maxsize} commands already wait") from None
        # One timer per command, not wait_for(shield(...)) (three more futures and callbacks
        # per command): at the deadline the future fails, and the writer skips a done future
        # if it has not taken it yet (a caller cancelled meanwhile cancels it, the same way).
        timer = loop.call_later(timeout, _expire, future)
        try:
            outcome = await future
        except _Expired:
            if self._store_down_since is not None:
                raise StoreUnavailable("the event store cannot be reached") from None
            raise DeadlineExceeded(f"not decided within {timeout:g} s") from None
        finally:
            timer.cancel()
        if outcome is EXPIRED:
            raise DeadlineExceeded(f"not decided within {timeout:g} s")
        return outcome

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            now = time.monotonic()
            live = []
            for waiting in batch:
                if waiting.future.done():
                    continue
                if waiting.deadline > now:
                    live.append(waiting)
                else:
                    waiting.future.set_result(EXPIRED)
            try:
                if live:
                    await self._decide(loop, live)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _decide(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting]) -> None:
        commands = [w.command for w in batch]
        deadlines = [w.deadline for w in batch]
        started = time.perf_counter()
        try:
            outcomes = await loop.run_in_executor(
                self._writer, self.ledger.execute, commands, deadlines
            )
        except Exception as error:  # the store is down: every caller of the batch hears it
            if isinstance(error, StoreUnavailable) and self._store_down_since is None:
                self._store_down_since = time.monotonic()
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
                    waiting.future.exception()  # retrieved here: a caller may be gone
            return
        self._store_down_since = None
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(outcome)
        if self._observe is not None:
            self._observe(commands, outcomes, time.perf_counter() - started)
