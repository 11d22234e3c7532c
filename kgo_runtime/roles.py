"""What one process of a service does: serve HTTP, run the background components, or both.

`kgo serve <service>` alone runs everything in one process (``all``). With
``<SERVICE>_HTTP_WORKERS=N`` it supervises N processes that all serve HTTP and take turns
at the background components (``worker``, under kgo_runtime.leadership). With
``<SERVICE>_BACKGROUND_PROCESS=true`` the relay, consumers, followers and sweepers run in a
process of their own (``background``: no HTTP, so no API request waits behind them for the
GIL), and the N HTTP processes only serve requests (``api``): their writer decides API
commands only, and their event loop has nothing else to do.

The supervising `kgo serve` tells each child its role in ``KGO_PROCESS_ROLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from enum import StrEnum

from fastapi import FastAPI

ROLE_ENV = "KGO_PROCESS_ROLE"


class Role(StrEnum):
    ALL = "all"
    WORKER = "worker"
    API = "api"
    BACKGROUND = "background"

    @property
    def serves_http(self) -> bool:
        return self is not Role.BACKGROUND

    @property
    def runs_components(self) -> bool:
        return self is not Role.API

    @property
    def leads(self) -> bool:
        """Whether the components run only while this process holds the service's lock:
        in every process of a supervised group (a background process being replaced may
        overlap its successor for a moment)."""
        return self in (Role.WORKER, Role.BACKGROUND)


def process_role() -> Role:
    """This process's role, from the environment `kgo serve` gave it (``all`` if none)."""
    value = os.environ.get(ROLE_ENV, Role.ALL.value)
    try:
        return Role(value)
    except ValueError:
        raise RuntimeError(f"{ROLE_ENV} must be one of {', '.join(Role)}, not {value!r}") from None


async def run_without_http(app: FastAPI) -> None:
    """Run ``app``'s lifespan (its resources and background components) with no server,
    until SIGTERM or SIGINT: then stop it as uvicorn would (the lifespan's shutdown)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with app.router.lifespan_context(app):
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
