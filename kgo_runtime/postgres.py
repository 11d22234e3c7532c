"""Small asyncpg helpers shared by the relay, the consumer and the service runtime."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg

#: A pool, or a DSN to open one from.
Database: TypeAlias = asyncpg.Pool | str

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schema_name(schema: str) -> str:
    """A validated, lower-case schema name, safe to put into SQL text unquoted."""
    if not _IDENT.match(schema):
        raise ValueError(f"not a plain Postgres identifier: {schema!r}")
    return schema


async def open_pool(db: Database, *, max_size: int = 4) -> tuple[asyncpg.Pool, bool]:
    """The pool to use and whether the caller owns it (and must close it).

    ``min_size=0`` makes the pool lazy: creating it never needs the server to be up.
    """
    if isinstance(db, asyncpg.Pool):
        return db, False
    return await asyncpg.create_pool(db, min_size=0, max_size=max_size), True


def still_open(conn: asyncpg.Connection) -> bool:
    """Whether a connection held from a pool is still usable. When the server ends its
    session (a restart), asyncpg hands the connection back to the pool and the holder's proxy
    refuses every call, ``is_closed`` included ("released back to the pool")."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


class SessionLost(ConnectionError):
    """A connection held for a component's whole run was closed by the server: take a new
    one (transient: an ``OSError``)."""


async def follow_log(
    pool: asyncpg.Pool,
    follow_once: Callable[[asyncpg.Connection], Awaitable[int]],
    *,
    channel: str | None,
    stopping: asyncio.Event,
    stored: asyncio.Event,
    poll_interval: float,
) -> None:
    """A read model following its service's event log until ``stopping`` is set: woken by
    the event store's NOTIFY on ``channel`` (``stored`` is set; a stopper sets it too), and
    every ``poll_interval`` seconds in case a notification was missed, it calls
    ``follow_once`` (fold what is new, return how many were read) until nothing is new.

    One connection at a time does the listening and the folding, so a fold after every
    stored batch costs no pool acquire and release (asyncpg resets a released connection
    with a query of its own). When the server ends the session (a restart), the next one is
    taken; a database that cannot be reached raises, for the supervisor to restart."""

    def wake(*_: object) -> None:
        stored.set()

    while not stopping.is_set():
        async with pool.acquire() as conn:
            if channel:
                await conn.add_listener(channel, wake)
            try:
                while not stopping.is_set():
                    stored.clear()
                    try:
                        folded = await follow_once(conn)
                    except asyncpg.InterfaceError:
                        if still_open(conn):
                            raise
                        raise SessionLost("the follower's connection was closed") from None
                    if not folded:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stored.wait(), poll_interval)
            except SessionLost:
                await asyncio.sleep(0.1)  # then a new connection
            finally:
                if channel and still_open(conn):
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(channel, wake)


async def ensure_schema(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> None:
    """Create ``schema`` if it does not exist (eventsourcing needs it to exist first)."""
    # A concurrent creator can win the race between the check and the insert.
    with contextlib.suppress(asyncpg.UniqueViolationError):
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_name(schema)}")


async def create_tables(pool: asyncpg.Pool, ddl: str) -> None:
    """Run idempotent DDL; a concurrent creator winning the race is fine."""
    try:
        async with pool.acquire() as conn:
            await conn.execute(ddl)
    except (
        asyncpg.UniqueViolationError,
        asyncpg.DuplicateTableError,
        asyncpg.DuplicateObjectError,
    ):
        pass
