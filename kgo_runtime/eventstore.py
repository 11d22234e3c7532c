"""Opening a service's eventsourcing application on its Postgres database.

eventsourcing is configured by environment keys; :func:`eventstore_env` derives them from the
service's ``database_url`` so a service has one setting for its database, and passes them as
the application's ``env`` (nothing is written to ``os.environ``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from copy import deepcopy
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

import asyncpg
import psycopg
from eventsourcing.application import Application, project_aggregate
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from kgo_runtime.logging import get_logger
from kgo_runtime.postgres import ensure_schema, schema_name

TApplication = TypeVar("TApplication", bound=Application[Any])

log = get_logger(__name__)


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
        # One round trip per insert and batch reads (kgo_runtime/recorder.py); orjson for
        # the payloads (kgo_runtime/transcoder.py). Both store what the stock ones store.
        "APPLICATION_RECORDER_TOPIC": "kgo_runtime.recorder:LeanRecorder",
        "TRANSCODER_TOPIC": "kgo_runtime.transcoder:OrjsonTranscoder",
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
    application = await asyncio.to_thread(cls, env)
    await asyncio.to_thread(short_analyze, application)
    return application


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


def get_many(application: Application[Any], ids: Iterable[UUID]) -> dict[UUID, Any]:
    """What ``application.repository.get`` gives for each of ``ids`` (an id with no events is
    left out), with every aggregate's new events read in one round trip on PostgreSQL (one
    aggregate at a time on another store): the events after each cached copy's version (all
    of them for the rest), applied to a copy of the cached one; the result is cached in its
    place (a new object: a cached one is never changed, so threads reading at once each get a
    consistent copy). Each aggregate returned is the caller's own copy, as the repository's
    are. An application reading through this alone should not also use the repository's
    ``get``, which brings cached aggregates up to date in place."""
    wanted = list(dict.fromkeys(ids))
    cache = application.repository.cache
    copies: dict[UUID, Any] = {}
    if cache is not None:
        for aggregate_id in wanted:
            with contextlib.suppress(KeyError):
                copies[aggregate_id] = deepcopy(cache.get(aggregate_id))
    after = {i: copies[i].version if i in copies else 0 for i in wanted}
    recorder = application.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        stored: Iterable[StoredEvent] = select_events_after(recorder, after)
    else:
        stored = [e for i, v in after.items() for e in recorder.select_events(i, gt=v or None)]
    events: dict[UUID, list[Any]] = {i: [] for i in wanted}
    to_domain_event = application.mapper.to_domain_event
    for event in stored:
        key = event.originator_id
        events[key if isinstance(key, UUID) else UUID(str(key))].append(to_domain_event(event))
    found: dict[UUID, Any] = {}
    for aggregate_id in wanted:
        base, new = copies.get(aggregate_id), events[aggregate_id]
        aggregate = project_aggregate(base, new) if new else base
        if aggregate is None:
            continue
        if new and cache is not None:
            cache.put(aggregate_id, deepcopy(aggregate))
        found[aggregate_id] = aggregate
    return found


#: Statistics targets of an events table's columns (PostgreSQL's default is 100 for every
#: column; ``state`` gets none: nothing selects by a payload). See :func:`short_analyze`.
EVENTS_STATISTICS = {
    "originator_id": 10,
    "originator_version": 10,
    "topic": 10,
    "state": 0,
    "notification_id": 10,
}


def short_analyze(application: Application[Any]) -> list[str]:
    """Keep autovacuum's ANALYZE of the application's events table short (blocking: call it
    in a worker thread from async code).

    eventsourcing's writers take ``LOCK TABLE ... IN EXCLUSIVE MODE`` on the events table for
    every insert (the notification ids must commit in order), and ANALYZE holds a lock that
    conflicts with it: while autovacuum analyses the table, no command is stored. With the
    default statistics target ANALYZE samples 30,000 rows; measured on a 600,000-event table,
    124-165 ms by hand and, cost-delayed under autovacuum, a 270 ms stall of every write in a
    wallet taking 1,000 spends/s (BENCHMARKS.md, "The tail at a steady rate"). Every query of
    the table goes by its keys (an aggregate's id and version, a notification id), so a
    target of 10 (3,000 rows sampled: 8 ms) loses no plan, and the payload gets none.
    Altered only where a target differs (the alteration takes the same lock as ANALYZE);
    returns the columns altered."""
    recorder = application.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        return []  # an in-memory store (unit tests)
    datastore = recorder.datastore
    table = SQL("{schema}.{table}").format(
        schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name)
    )
    try:
        return _set_targets(datastore, table)
    except (psycopg.Error, PersistenceError) as error:
        # Not the table's owner, or its writers kept the lock past the timeout: the service
        # runs as before (with longer analyses), and the next start tries again.
        log.warning(
            "events table statistics left as they are",
            table=f"{datastore.schema}.{recorder.events_table_name}",
            error=type(error).__name__,
            reason=str(error).strip(),
        )
        return []


#: How long :func:`short_analyze` waits for the table's lock (its writers hold it briefly
#: and often; the alteration queued behind them makes them queue behind it).
ALTER_LOCK_TIMEOUT = "2s"


def _set_targets(datastore: Any, table: Any) -> list[str]:
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(
            "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped",
            (table.as_string(conn),),
        )
        differ = [n for n, target in curs.fetchall() if EVENTS_STATISTICS.get(n, 10) != target]
        if not differ:
            return []
        with conn.transaction():
            curs.execute(f"SET LOCAL lock_timeout = '{ALTER_LOCK_TIMEOUT}'")
            curs.execute(
                SQL("ALTER TABLE {table} {columns}").format(
                    table=table,
                    columns=SQL(", ").join(
                        SQL("ALTER COLUMN {} SET STATISTICS {}").format(
                            Identifier(n), Literal(EVENTS_STATISTICS.get(n, 10))
                        )
                        for n in differ
                    ),
                )
            )
        return differ
