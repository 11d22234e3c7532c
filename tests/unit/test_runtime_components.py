"""The supervisor keeps components running through failures and stops them in reverse order."""

from __future__ import annotations

import asyncio

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
