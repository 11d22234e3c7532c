"""One process of several runs a service's background components.

With ``<SERVICE>_HTTP_WORKERS`` above 1, `kgo serve` starts that many processes serving HTTP
on one port; the relay, consumers, followers and sweepers must still run exactly once. Each
process wraps them in a ``BackgroundLeader``: it holds a PostgreSQL session advisory lock
(``pg_try_advisory_lock``, on a connection of its own) while it runs them. The others retry
every ``retry_seconds``; when the leader dies, its session ends, the lock is released, and
the next one to try takes over. A leader that loses its connection stops its components at
once (another process may already hold the lock) and then ends its own process (SIGTERM, a
graceful stop): components are not all made to run again after a stop, so the process is
replaced instead; `kgo serve` restarts a worker that exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
from collections.abc import Callable, Sequence

import asyncpg

from kgo_runtime.components import Component, Supervisor
from kgo_runtime.logging import get_logger

log = get_logger(__name__)


def lock_key(service: str, schema: str) -> int:
    """The advisory lock's 64-bit key for one service's background work in one schema."""
    digest = hashlib.sha256(f"kgo:background:{service}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class BackgroundLeader:
    """A component that runs ``components`` only while it holds the service's lock."""

    name = "background-leader"

    def __init__(
        self,
        components: Sequence[Component],
        database_url: str,
        key: int,
        *,
        retry_seconds: float = 2.0,
        check_seconds: float = 1.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._components = list(components)
        self._dsn = database_url
        self._key = key
        self._retry = retry_seconds
        self._check = check_seconds
        self._on_lost = on_lost or (lambda: os.kill(os.getpid(), signal.SIGTERM))
        self._stopping = asyncio.Event()
        self.leading = False
        self.supervisor: Supervisor | None = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                locked = await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
                if locked and not await self._lead(conn):
                    log.error("background leadership lost; ending this process")
                    self._stopping.set()
                    self._on_lost()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("background leadership: database unavailable", error=repr(error))
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._retry)

    async def _lead(self, conn: asyncpg.Connection) -> bool:
        """Run the components until asked to stop (True) or the lock's session fails (False)."""
        self.supervisor, self.leading = Supervisor(), True
        log.info("background leadership taken", components=[c.name for c in self._components])
        for component in self._components:
            self.supervisor.start(component)
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._check)
                if not self._stopping.is_set():
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), self._check * 5)
            return True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        finally:
            self.leading = False
            await self.supervisor.stop()
            log.info("background leadership released")

    async def stop(self) -> None:
        self._stopping.set()
