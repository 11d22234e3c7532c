"""Supervision of the processes `kgo run` starts: a child that exits while the platform is
up is started again after an exponential backoff (capped), the restart is logged and counted,
and the others keep running. The supervisor writes what it knows (pid, state, restarts, last
exit) to a status file that `kgo status` reads, and exports the same counts as Prometheus
series (``kgo_supervisor_restarts_total``, ``kgo_supervisor_child_up``).

Nothing here knows what a service is: a child is a name and a function that spawns it, so the
unit tests supervise tiny Python processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

Spawn = Callable[[], "subprocess.Popen[bytes]"]
Say = Callable[[str], None]


@dataclass(frozen=True)
class Backoff:
    """Delay before restart ``n`` (1-based): ``initial * factor**(n-1)``, at most ``cap``.
    A child that stayed up ``stable_seconds`` starts again from ``initial``."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    stable_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.initial * self.factor ** max(0, attempt - 1))


@dataclass
class Child:
    name: str
    spawn: Spawn
    process: subprocess.Popen[bytes] | None = None
    state: str = "stopped"  # running | backoff | stopped
    restarts: int = 0
    #: Restarts since the child last stayed up long enough: drives the backoff.
    attempt: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    last_exit: int | None = None
    last_exit_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.state == "running" else None


class Supervisor:
    """Starts, watches and restarts children; call :meth:`poll` regularly."""

    def __init__(
        self,
        spawns: dict[str, Spawn],
        *,
        status_file: Path | None = None,
        backoff: Backoff | None = None,
        say: Say = print,
        registry: CollectorRegistry | None = None,
        extra: dict[str, dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = {
            name: Child(name, spawn, extra=(extra or {}).get(name, {}))
            for name, spawn in spawns.items()
        }
        self.status_file = status_file
        self.backoff = backoff or Backoff()
        self.say = say
        self.clock = clock
        self.stopping = False
        self.registry = registry or CollectorRegistry()
        self._restarts = Counter(
            "kgo_supervisor_restarts_total",
            "Restarts of a crashed service process by `kgo run`.",
            ["service"],
            registry=self.registry,
        )
        self._up = Gauge(
            "kgo_supervisor_child_up",
            "1 while the service process runs, 0 while it waits to be restarted.",
            ["service"],
            registry=self.registry,
        )
        for name in self.children:
            self._restarts.labels(name)
            self._up.labels(name).set(0)

    def start_all(self) -> None:
        for child in self.children.values():
            self._start(child)
        self.write_status()

    def poll(self) -> None:
        """Notice exits, schedule restarts, start the children whose backoff is over."""
        if self.stopping:
            return
        changed = False
        now = self.clock()
        for child in self.children.values():
            if child.state == "running" and child.process is not None:
                code = child.process.poll()
                if code is not None:
                    self._exited(child, code, now)
                    changed = True
            elif child.state == "backoff" and now >= (child.restart_at or now):
                child.restarts += 1
                self._restarts.labels(child.name).inc()
                self._start(child)
                self.say(f"{_stamp()} {child.name} restarted (restart {child.restarts})")
                changed = True
        if changed:
            self.write_status()

    def stop_all(self, grace: float = 20.0) -> None:
        """SIGTERM every running child, SIGKILL those still there after ``grace`` seconds."""
        self.stopping = True
        running = [c for c in self.children.values() if c.state == "running" and c.process]
        for child in running:
            assert child.process is not None
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(timeout=5)
        for child in self.children.values():
            child.state = "stopped"
            child.restart_at = None
            self._up.labels(child.name).set(0)
        self.write_status()

    def snapshot(self) -> dict[str, Any]:
        return {
            "supervisor_pid": os.getpid(),
            "written_at": _stamp(),
            "stopping": self.stopping,
            "services": {
                child.name: {
                    "pid": child.pid,
                    "state": child.state,
                    "restarts": child.restarts,
                    "last_exit": child.last_exit,
                    "last_exit_at": child.last_exit_at,
                    "restart_in_seconds": (
                        round(max(0.0, child.restart_at - self.clock()), 1)
                        if child.restart_at is not None
                        else None
                    ),
                    **child.extra,
                }
                for child in self.children.values()
            },
        }

    def write_status(self) -> None:
        if self.status_file is None:
            return
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.status_file.with_suffix(".tmp")
        partial.write_text(json.dumps(self.snapshot(), indent=2) + "\n")
        partial.replace(self.status_file)  # readers never see half a file

    def _start(self, child: Child) -> None:
        child.process = child.spawn()
        child.state = "running"
        child.started_at = self.clock()
        child.restart_at = None
        self._up.labels(child.name).set(1)

    def _exited(self, child: Child, code: int, now: float) -> None:
        if now - child.started_at >= self.backoff.stable_seconds:
            child.attempt = 0
        child.attempt += 1
        delay = self.backoff.delay(child.attempt)
        child.state = "backoff"
        child.last_exit = code
        child.last_exit_at = _stamp()
        child.restart_at = now + delay
        self._up.labels(child.name).set(0)
        how = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
        self.say(f"{_stamp()} {child.name} {how}; restarting in {delay:.1f} s")


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file of a `kgo run`, or None when there is none or its supervisor is gone."""
    try:
        status: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = status.get("supervisor_pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    return status


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
