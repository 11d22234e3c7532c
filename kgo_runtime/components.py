"""Long-running parts of a service process (relay, consumers, background jobs) and the
supervisor that keeps them running.

A component is crash-only: ``run()`` opens what it needs, works until ``stop()`` is called,
then closes what it opened (flushing producers) and returns. If ``run()`` raises, the
supervisor logs it and calls ``run()`` again after a backoff, so a broker or database that
is down at start or restarts later only delays the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal, Protocol, runtime_checkable

from kgo_runtime.logging import get_logger

ComponentState = Literal["starting", "running", "restarting", "stopped"]

log = get_logger(__name__)


@runtime_checkable
class Component(Protocol):
    """Something the service runs in the background for its whole life."""

    name: str

    async def run(self) -> None:
        """Work until ``stop()`` is called, then clean up and return."""

    async def stop(self) -> None:
        """Ask ``run()`` to finish soon; need not wait for it."""


class Supervisor:
    """Runs components as tasks, restarts them when they fail, stops them in reverse order."""

    def __init__(self, *, min_backoff: float = 0.5, max_backoff: float = 15.0) -> None:
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._components: list[Component] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._states: dict[str, ComponentState] = {}
        self._stopping = asyncio.Event()

    def start(self, component: Component) -> None:
        self._components.append(component)
        self._states[component.name] = "starting"
        self._tasks.append(
            asyncio.create_task(self._supervise(component), name=f"kgo:{component.name}")
        )

    def states(self) -> dict[str, ComponentState]:
        return dict(self._states)

    async def _supervise(self, component: Component) -> None:
        backoff = self._min_backoff
        while not self._stopping.is_set():
            self._states[component.name] = "running"
            try:
                await component.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._stopping.is_set():
                    # Stopping closes what the component was using: not a reason to restart.
                    log.warning("component failed while stopping", component=component.name,
                                exc_info=True)  # fmt: skip
                    break
                log.exception("component failed; restarting", component=component.name)
            else:
                if self._stopping.is_set():
                    break
                log.warning("component returned unasked; restarting", component=component.name)
            self._states[component.name] = "restarting"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, self._max_backoff)
        self._states[component.name] = "stopped"

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop every component (last started first) and wait up to ``timeout`` seconds."""
        self._stopping.set()
        for component, task in zip(reversed(self._components), reversed(self._tasks), strict=True):
            try:
                await asyncio.wait_for(component.stop(), timeout)
            except Exception:
                log.exception("component failed while stopping", component=component.name)
            # asyncio.wait, not wait_for: whatever the task ended with (even a cancellation
            # of its own) must not cut this loop short and leave later components running.
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                log.error("component did not stop in time; cancelling", component=component.name)
                task.cancel()
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for component in self._components:
            self._states[component.name] = "stopped"
