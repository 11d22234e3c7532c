"""cProfile of the wallet's writer thread: where a batch's time goes.

The bus runs ``ledger.execute`` on its own single thread, so profiling that call (cProfile is
per thread) shows the writer's work without the callers' event loop mixed in.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Sequence
from typing import Any

from services.wallet.application.commands import Command, Outcome

from .wallet import Execute

#: Functions whose cumulative time explains a batch, with the label they get in the summary.
STAGES: dict[tuple[str, str], str] = {
    ("ledger.py", "execute"): "ledger.execute (whole batch)",
    ("ledger.py", "_decide"): "  deciding commands (handlers, receipts)",
    ("commands.py", "request_hash"): "    request_hash (orjson + sha256)",
    ("application.py", "save"): "  save (collect, encode, insert, commit)",
    ("application.py", "collect_events"): "    collect_events (typing.Protocol isinstance)",
    ("persistence.py", "to_stored_event"): "    mapper.to_stored_event (transcoder)",
    ("postgres.py", "insert_events"): "    recorder.insert_events (incl. snapshots)",
    ("connection.py", "wait"): "      psycopg: run statements (dump + round trips)",
    ("array.py", "dump"): "        dump the insert's arrays",
    ("ledger.py", "_snapshot"): "  snapshots of hot accounts",
}


class WriterProfile:
    """A profiler for the writer thread: install ``wrap`` around ``ledger.execute``."""

    def __init__(self) -> None:
        self.profiler = cProfile.Profile()

    def wrap(self, inner: Execute) -> Execute:
        def profiled(commands: Sequence[Command], *rest: Any) -> list[Outcome]:
            self.profiler.enable()
            try:
                return inner(commands, *rest)
            finally:
                self.profiler.disable()

        return profiled

    def summary(self, commands: int, top: int = 12) -> str:
        return summarize(pstats.Stats(self.profiler).stats, commands, top)  # type: ignore[attr-defined]


def summarize(stats: dict[Any, Any], commands: int, top: int = 12) -> str:
    """Stage totals (cumulative) and the functions with the most own time."""
    per_stage: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, _tt, cumtime, _callers) in stats.items():
        for (file_end, name), label in STAGES.items():
            if func == name and filename.endswith(file_end):
                per_stage[label] = per_stage.get(label, 0.0) + cumtime
    total = per_stage.get(STAGES[("ledger.py", "execute")], 0.0) or 1e-9
    lines = [f"{commands:,} commands profiled; writer wall time {total:.2f} s "
             f"({total / max(commands, 1) * 1e6:.0f} µs per command, inflated by profiling)",
             ""]  # fmt: skip
    lines += [f"{'stage':<52} {'seconds':>8} {'share':>6}"]
    for label in STAGES.values():
        if label in per_stage:
            seconds = per_stage[label]
            lines.append(f"{label:<52} {seconds:8.2f} {seconds / total:6.0%}")
    lines += ["", f"{'own time, top functions':<52} {'seconds':>8} {'calls':>9}"]
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (filename, line, func), (_cc, calls, tottime, _cum, _callers) in ranked:
        where = f"{_short(filename)}:{line}({func})"
        lines.append(f"{where[:52]:<52} {tottime:8.2f} {calls:9,}")
    return "\n".join(lines)


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else filename


def serve_profiled(output: str, argv: Sequence[str]) -> None:
    """Run ``kgo <argv>`` (e.g. ``serve wallet``) under cProfile timed by the *thread's CPU
    time*, not the wall clock: on a shared machine, and with the writer thread holding the
    GIL, wall time lands on whatever function was running when the GIL was taken away, so a
    CPU-timed profile is what shows where the event loop's own work goes.

    Only between SIGUSR1 (start) and SIGUSR2 (stop and write ``output``): the profile covers
    the measured load, not the start-up and the set-up requests
    (``BENCH_SERVER_PROFILE=<file> BENCH_SERVER_PROFILE_CPU=1``; bench.http sends the
    signals around its first wrk run)."""
    import signal
    import sys
    import time

    from kgo_cli.main import app

    profiler = cProfile.Profile(time.thread_time)

    def start(*_: object) -> None:
        profiler.enable()

    def stop(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(output)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = ["kgo", *argv]
    app()


if __name__ == "__main__":
    import sys

    serve_profiled(sys.argv[1], sys.argv[2:])
