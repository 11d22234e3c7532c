"""Online taps decided together: taps that arrive while others are being decided wait a
moment and go through the batch path (:mod:`.batches`) as one chunk, no two of the same
pass in a chunk, and no pass in two chunks in flight at once (a tap of a pass being decided
waits for that chunk: deciding it beside would only conflict). With one tap at a time
nothing waits; under load a chunk's taps share their two transactions and one wallet
request, as the wallet's command bus shares one transaction among its spends."""

from __future__ import annotations

import asyncio
import contextlib

from ..domain.errors import WalletDown
from .batches import Answer, _chunk
from .fares import FareCollector, TapRequest
from .views import TripView

#: Most taps decided in one chunk, and chunks in flight at once.
MAX_CHUNK = 50
CHUNKS_AT_ONCE = 4


class TapDesk:
    def __init__(self, collector: FareCollector) -> None:
        self.collector = collector
        self._waiting: list[tuple[TapRequest, asyncio.Future[TripView]]] = []
        self._wake = asyncio.Event()
        self._gate = asyncio.Semaphore(CHUNKS_AT_ONCE)
        self._runner: asyncio.Task[None] | None = None
        self._deciding: set[asyncio.Task[None]] = set()
        #: The passes of the chunks in flight.
        self._busy: set[str] = set()

    async def tap(self, request: TapRequest) -> TripView:
        future: asyncio.Future[TripView] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="transit:tap-desk")
        return await future

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._gate.acquire()
                chunk, self._waiting = _take(self._waiting, self._busy)
                if not chunk:  # every waiting tap's pass is in flight: wait for a chunk
                    self._gate.release()
                    break
                self._busy.update(request.tap.pass_digest for request, _ in chunk)
                task = asyncio.create_task(self._decide(chunk))
                self._deciding.add(task)
                task.add_done_callback(self._deciding.discard)

    async def _decide(self, chunk: list[tuple[TapRequest, asyncio.Future[TripView]]]) -> None:
        requests = [request for request, _ in chunk]
        answers: list[Answer] = [None] * len(chunk)
        try:
            await _chunk(self.collector, requests, list(range(len(chunk))), answers)
        except Exception as error:  # the chunk failed as a whole: every tap alone
            answers = [error] * len(chunk)
        finally:
            self._gate.release()
            self._busy.difference_update(request.tap.pass_digest for request in requests)
            if self._waiting:
                self._wake.set()
        for (_request, future), answer in zip(chunk, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, TripView) and answer.status != "pending":
                future.set_result(answer)
            elif isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_exception(WalletDown("the wallet did not answer; send the tap again"))


Waiting = list[tuple[TapRequest, "asyncio.Future[TripView]"]]


def _take(waiting: Waiting, busy: set[str]) -> tuple[Waiting, Waiting]:
    """Up to MAX_CHUNK waiting taps of different passes, none ``busy``, and the rest (in
    arrival order)."""
    chunk: Waiting = []
    rest: Waiting = []
    passes: set[str] = set()
    for item in waiting:
        digest = item[0].tap.pass_digest
        if digest in passes or digest in busy or len(chunk) >= MAX_CHUNK:
            rest.append(item)
        else:
            passes.add(digest)
            chunk.append(item)
    return chunk, rest
