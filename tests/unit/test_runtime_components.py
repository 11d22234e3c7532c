"""The supervisor keeps components running through failures and stops them in reverse order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kgo_runtime.components import Component, Supervisor

pytestmark = pytest.mark.unit


class Worker:
    def __init__(self, name: str, log: list[str], failures: int = 0) -> None:
        self.name = name
        self._log = log
        self._failures = failures
        self._stop = asyncio.Event()
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self._failures:
            raise ConnectionError("broker down")
        await self._stop.wait()
        self._log.append(f"{self.name} closed")

    async def stop(self) -> None:
        self._log.append(f"{self.name} asked to stop")
        self._stop.set()


class Stubborn:
    name = "stubborn"

    async def run(self) -> None:
        await asyncio.sleep(3600)

    async def stop(self) -> None:
        pass


def test_workers_are_components() -> None:
    assert isinstance(Worker("w", []), Component)


async def test_a_failing_component_is_restarted() -> None:
    supervisor = Supervisor(min_backoff=0.01, max_backoff=0.02)
    worker = Worker("relay", [], failures=2)
    supervisor.start(worker)

    for _ in range(100):
        if worker.runs == 3:
            break
        await asyncio.sleep(0.01)
    assert supervisor.states() == {"relay": "running"}
    await supervisor.stop()
    assert worker.runs == 3
    assert supervisor.states() == {"relay": "stopped"}


async def test_components_stop_last_started_first() -> None:
    log: list[str] = []
    supervisor = Supervisor()
    supervisor.start(Worker("relay", log))
    supervisor.start(Worker("consumer", log))
    await asyncio.sleep(0.01)

    await supervisor.stop()

    assert log == [
        "consumer asked to stop",
        "consumer closed",
        "relay asked to stop",
        "relay closed",
    ]


async def test_a_component_that_ignores_stop_is_cancelled() -> None:
    supervisor = Supervisor()
    supervisor.start(Stubborn())
    await asyncio.sleep(0.01)

    await asyncio.wait_for(supervisor.stop(timeout=0.05), 2)

    assert supervisor.states() == {"stubborn": "stopped"}


class FailsWhenStopped:
    """Its run() raises once stop() closed what it was using (a pool, a producer)."""

    name = "relay"

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        await self._stop.wait()
        raise ConnectionError("the pool is closed")

    async def stop(self) -> None:
        self._stop.set()


class CancelsItself:
    """Its run() ends with a CancelledError of its own (as a library may raise on close)."""

    name = "consumer"

    def __init__(self) -> None:
        self._stop = asyncio.Event()

    async def run(self) -> None:
        await self._stop.wait()
        raise asyncio.CancelledError

    async def stop(self) -> None:
        self._stop.set()


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **_: self.events.append(f"{level}: {event}")


async def test_a_component_failing_while_stopping_is_not_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logged = Recorder()
    monkeypatch.setattr("kgo_runtime.components.log", logged)
    supervisor = Supervisor(min_backoff=0.01)
    failing = FailsWhenStopped()
    supervisor.start(failing)
    await asyncio.sleep(0.01)

    await supervisor.stop()
    await asyncio.sleep(0.05)

    assert failing.runs == 1
    assert not [e for e in logged.events if "restarting" in e], logged.events
    assert supervisor.states() == {"relay": "stopped"}


async def test_one_component_ending_cancelled_does_not_leave_the_others_running() -> None:
    log: list[str] = []
    supervisor = Supervisor()
    relay = Worker("relay", log)
    supervisor.start(relay)
    supervisor.start(CancelsItself())
    await asyncio.sleep(0.01)

    await asyncio.wait_for(supervisor.stop(), 2)

    assert log == ["relay asked to stop", "relay closed"]
    assert supervisor.states() == {"relay": "stopped", "consumer": "stopped"}
