"""Opening a service's eventsourcing application on its Postgres database.

eventsourcing is configured by environment keys; :func:`eventstore_env` derives them from the
service's ``database_url`` so a service has one setting for its database, and passes them as
the application's ``env`` (nothing is written to ``os.environ``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

import asyncpg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from kgo_runtime.postgres import ensure_schema, schema_name

TApplication = TypeVar("TApplication", bound=Application[Any])


def eventstore_env(
    database_url: str, *, schema: str = "public", extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """eventsourcing's Postgres settings for ``database_url`` (``postgresql://user[:pw]@host:port/db``).

    ``extra`` adds or overrides keys, e.g. ``{"AGGREGATE_CACHE_MAXSIZE": "10000"}``.
    """
    url = urlsplit(database_url)
    if url.scheme not in ("postgres", "postgresql") or not url.hostname:
        raise ValueError(f"not a postgresql:// URL: {database_url!r}")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname,
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or ""),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema_name(schema),
    }
    env.update(extra or {})
    return env


async def open_application(
    cls: type[TApplication],
    database_url: str,
    *,
    schema: str = "public",
    pool: asyncpg.Pool | None = None,
    extra: Mapping[str, str] | None = None,
) -> TApplication:
    """Create the schema if needed, then construct ``cls`` in a worker thread (it connects and
    creates its tables). Close it with ``app.close()`` (also in a thread) on shutdown."""
    if pool is not None:
        await ensure_schema(pool, schema)
    else:
        conn = await asyncpg.connect(database_url)
        try:
            await ensure_schema(conn, schema)
        finally:
            await conn.close()
    env = eventstore_env(database_url, schema=schema, extra=extra)
    return await asyncio.to_thread(cls, env)


def select_events_after(
    recorder: PostgresApplicationRecorder, after: Mapping[UUID, int]
) -> list[StoredEvent]:
    """Every stored event of the aggregates ``after`` names, past the version it gives each
    (0: all of them), in one round trip; by aggregate, then version. What eventsourcing's
    ``select_events(id, gt=version)`` gives one aggregate at a time."""
    if not after:
        return []
    datastore = recorder.datastore
    query = SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS c(id, v)"
        " JOIN {schema}.{table} e ON e.originator_id = c.id AND e.originator_version > c.v"
        " ORDER BY e.originator_id, e.originator_version"
    ).format(schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name))
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(query, (list(after), list(after.values())), prepare=True)
        return [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in curs.fetchall()]
