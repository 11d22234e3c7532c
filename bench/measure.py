"""Closed-loop load: N workers, each awaiting one operation after another, for a fixed time.

Throughput counts the operations that *finish* inside the measured window (after the warm-up),
whenever they started, so long latencies do not bias a short window; workers start no new
operation once the window closes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: One operation: ``await op(worker, n)`` where ``n`` counts that worker's operations.
Operation = Callable[[int, int], Awaitable[object]]


@dataclass
class Sample:
    """What one closed-loop run measured."""

    concurrency: int
    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)
    errors: int = 0
    #: perf_counter bounds of the measured window (after the warm-up).
    window: tuple[float, float] = (0.0, 0.0)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        return percentile(self.latencies, q) * 1000 if self.latencies else None


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; values need not be sorted."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def closed_loop(
    op: Operation,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    ok: Callable[[object], bool] = lambda _: True,
    stop: Callable[[], bool] | None = None,
) -> Sample:
    """Run ``op`` from ``concurrency`` workers for ``warmup + duration`` seconds, or until
    ``stop()`` says there is nothing left to do (e.g. no payment codes left): then the
    window ends with the last operation measured."""
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + duration
    latencies: list[float] = []
    errors = 0
    last = measure_from

    async def worker(index: int) -> None:
        nonlocal errors, last
        n = 0
        while (began := time.perf_counter()) < end and not (stop is not None and stop()):
            result = await op(index, n)
            n += 1
            done = time.perf_counter()
            if measure_from <= done <= end:
                latencies.append(done - began)
                last = max(last, done)
                if not ok(result):
                    errors += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    stopped = stop is not None and stop() and last < end
    return Sample(
        concurrency=concurrency,
        ops=len(latencies),
        seconds=(last - measure_from) if stopped and last > measure_from else duration,
        latencies=latencies,
        errors=errors,
        window=(measure_from, last if stopped else end),
    )
