"""Python's cyclic garbage collector in a served process, and its pauses as a metric.

A full collection walks every object the collector tracks, and while it runs nothing else in
the process does: the event loop answers no request and the writer decides nothing. In a
``kgo serve wallet`` process at a steady 1,000 spends/s, CPython 3.11's default thresholds
(700, 10, 10) ran a full collection every 3-5 s over the ~150,000 objects that importing
FastAPI, pydantic, eventsourcing and the service's own modules leaves behind; each took
85-107 ms and freed nothing, and the requests that arrived meanwhile waited for it (the
open-loop p99 was set by those pauses: BENCHMARKS.md, "The tail at a steady rate").

So a served process (:func:`tune_for_serving`, called by ``kgo serve``):

* moves what exists once the service has started into the permanent generation
  (:func:`settle`: ``gc.freeze()`` after one last collection); modules, classes, routes,
  settings and pools live as long as the process anyway, and a collection no longer walks
  them. Objects frozen are still freed by reference counting; only a reference cycle among
  them would never be collected, and they are the survivors of a full collection;
* collects the young generation after 50,000 net allocations instead of 700, so the short
  lives of a request's objects end by reference counting before a collection promotes them
  to an older generation (which is what made the full collections come so often).

The unit tests' apps are not tuned (their processes build and drop hundreds of apps: a
freeze there would keep each test's cycles for good).

:class:`PauseCollector` exports ``kgo_gc_pause_seconds`` (a histogram per generation) on the
service's registry, so operations see a pause where they see the latency it causes.
"""

from __future__ import annotations

import bisect
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

#: Young, middle and old generation thresholds of a served process (see the module).
SERVED_THRESHOLDS = (50_000, 20, 100)
#: Bucket bounds of the pause histogram, in seconds: 0.1 ms to 1 s.
PAUSE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

_serving = False
_settled = False


def tune_for_serving() -> None:
    """Make this process collect as a served one (see the module); :func:`settle` freezes
    what exists once the service has started."""
    global _serving
    _serving = True
    gc.set_threshold(*SERVED_THRESHOLDS)


def settle() -> None:
    """Once the service has started: in a served process, collect once more and move every
    surviving object into the permanent generation (only the first call does)."""
    global _settled
    if not _serving or _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()


class _Pauses:
    """Pause times per generation, counted by a ``gc.callbacks`` hook (one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: float | None = None
        # generation -> [counts per bucket (+Inf last), sum of seconds]
        self.counts = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in range(3)]
        self.sums = [0.0, 0.0, 0.0]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # The collector runs in whichever thread allocated last, holding the GIL throughout:
        # no other collection starts until this one has stopped.
        if phase == "start":
            self._started = time.perf_counter()
            return
        started, self._started = self._started, None
        if started is None:
            return
        seconds = time.perf_counter() - started
        generation = info["generation"]
        with self._lock:
            self.counts[generation][bisect.bisect_left(PAUSE_BUCKETS, seconds)] += 1
            self.sums[generation] += seconds

    def snapshot(self) -> tuple[list[list[int]], list[float]]:
        with self._lock:
            return [list(c) for c in self.counts], list(self.sums)


_pauses: _Pauses | None = None
_pauses_lock = threading.Lock()


def _hooked() -> _Pauses:
    global _pauses
    with _pauses_lock:
        if _pauses is None:
            _pauses = _Pauses()
            gc.callbacks.append(_pauses)
        return _pauses


class PauseCollector:
    """``kgo_gc_pause_seconds{generation}``: how long each garbage collection stopped the
    process, since it started (every registry of the process reads the same hook); and
    ``kgo_gc_frozen_objects``: the objects :func:`settle` took out of the collector's walks."""

    def __init__(self) -> None:
        self._pauses = _hooked()

    def describe(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily]:
        yield HistogramMetricFamily("kgo_gc_pause_seconds", _DOC, labels=["generation"])
        yield GaugeMetricFamily("kgo_gc_frozen_objects", _FROZEN)

    def collect(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily]:
        counts, sums = self._pauses.snapshot()
        family = HistogramMetricFamily("kgo_gc_pause_seconds", _DOC, labels=["generation"])
        for generation in range(3):
            running, buckets = 0, []
            bounds = (*PAUSE_BUCKETS, float("inf"))
            for bound, count in zip(bounds, counts[generation], strict=True):
                running += count
                buckets.append((_bound(bound), running))
            family.add_metric([str(generation)], buckets, sums[generation])
        yield family
        yield GaugeMetricFamily("kgo_gc_frozen_objects", _FROZEN, value=gc.get_freeze_count())


_DOC = (
    "Time the process stood still in a garbage collection, by generation (2: a full "
    "collection, which walks every tracked object)."
)

_FROZEN = (
    "Objects in the permanent generation: what existed once the service had started, which "
    "no collection walks (0: not a served process, or not started yet)."
)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


__all__ = ["PAUSE_BUCKETS", "SERVED_THRESHOLDS", "PauseCollector", "settle", "tune_for_serving"]
