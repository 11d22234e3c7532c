"""Facts about the machine, and how busy it was with work that was not ours.

The benchmark shares its machine with whatever else runs there. ``CpuMeter`` reads the whole
machine's CPU time (/proc/stat) and the CPU time of this benchmark's stack — this process,
the Postgres server of `kgo infra up` (postmaster, its live backends and its reaped ones) and
the Kafka broker — so the report can say how much of the machine other processes took.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kgo_runtime.settings import InfraSettings

from .results import Machine

_TICK = os.sysconf("SC_CLK_TCK")


def machine_facts(postgres: str) -> Machine:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor() or "unknown CPU",
    )  # fmt: skip
    return Machine(
        cores=os.cpu_count() or 0,
        ram_gib=int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2,
        cpu=cpu,
        python=platform.python_version(),
        postgres=postgres,
        kafka=f"{InfraSettings().kafka_version} (single-node KRaft from `kgo infra up`)",
        os=f"{platform.system()} {platform.release()}",
        date=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        load=(os.getloadavg()[0], 0.0),
    )


def _machine_busy() -> float:
    """CPU-seconds all cores spent not idle since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _TICK


def _proc_cpu(pid: int, *, children: bool = False) -> tuple[float, int]:
    """(CPU-seconds, parent pid) of a process; 0 if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0
    fields = raw.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK, int(fields[1])


def _stack_pids(postgres_data_dir: str | None) -> tuple[int | None, int | None]:
    postmaster = kafka = None
    if postgres_data_dir:
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int(Path(postgres_data_dir, "postmaster.pid").read_text().split()[0])
    with contextlib.suppress(OSError, ValueError, IndexError):
        kafka = int((InfraSettings().home / "run" / "kafka.pid").read_text().split()[0])
    return postmaster, kafka


@dataclass
class CpuShares:
    seconds: float
    #: Average cores busy over the run: all processes, and this benchmark's stack.
    machine_cores: float
    stack_cores: float

    @property
    def others_cores(self) -> float:
        return max(0.0, self.machine_cores - self.stack_cores)


class CpuMeter:
    def __init__(self, postgres_data_dir: str | None) -> None:
        self._postmaster, self._kafka = _stack_pids(postgres_data_dir)
        self._start = self._read()

    def _stack(self) -> float:
        total = time.process_time()
        if self._kafka:
            total += _proc_cpu(self._kafka, children=True)[0]
        if self._postmaster:
            total += _proc_cpu(self._postmaster, children=True)[0]
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    seconds, parent = _proc_cpu(int(entry.name))
                    if parent == self._postmaster:
                        total += seconds
        return total

    def _read(self) -> tuple[float, float, float]:
        return time.monotonic(), _machine_busy(), self._stack()

    def stop(self) -> CpuShares:
        t0, busy0, stack0 = self._start
        t1, busy1, stack1 = self._read()
        span = max(t1 - t0, 1e-9)
        return CpuShares(span, (busy1 - busy0) / span, (stack1 - stack0) / span)
