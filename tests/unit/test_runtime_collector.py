"""kgo_runtime.collector: a served process collects less often and freezes what exists once
it has started; every process exports its collection pauses."""

from __future__ import annotations

import gc
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest

from kgo_runtime.collector import SERVED_THRESHOLDS, PauseCollector, settle
from kgo_runtime.metrics import Metrics


def _run(code: str) -> str:
    """``code`` in a fresh interpreter (a freeze must not touch this test process)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_a_served_process_freezes_what_exists_once_started_and_only_once() -> None:
    out = _run(
        "import gc\n"
        "from kgo_runtime import collector\n"
        "collector.tune_for_serving()\n"
        "print(gc.get_threshold())\n"
        "collector.settle(); first = gc.get_freeze_count()\n"
        "junk = [[i] for i in range(1000)]\n"
        "collector.settle(); print(first > 1000, gc.get_freeze_count() == first)\n"
    )
    assert out.splitlines() == [str(SERVED_THRESHOLDS), "True True"]


def test_a_process_that_is_not_served_is_left_alone() -> None:
    before = gc.get_threshold()
    settle()  # the tests never call tune_for_serving
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_pauses_are_exported_per_generation_on_every_registry() -> None:
    registry = CollectorRegistry()
    registry.register(PauseCollector())
    gc.collect()
    text = generate_latest(registry).decode()
    count = [
        line for line in text.splitlines()
        if line.startswith('kgo_gc_pause_seconds_count{generation="2"}')
    ]  # fmt: skip
    assert count and float(count[0].split()[-1]) >= 1
    assert 'kgo_gc_pause_seconds_bucket{generation="0",le="+Inf"}' in text
    assert "kgo_gc_frozen_objects 0.0" in text
    # The service's registry carries them too.
    assert "kgo_gc_pause_seconds_bucket" in Metrics("wallet").render().decode()
