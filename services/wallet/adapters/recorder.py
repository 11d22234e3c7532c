"""The wallet's event recorder: KGO's lean recorder (:mod:`kgo_runtime.recorder`: one round
trip per insert, batch reads) with a writer that fails fast and writers that take turns.

In the writer's path (reading aggregates and snapshots, saving a batch) a failure to reach
the store is retried once within the pool's timeout, not ten times: the writer answers
``store_unavailable`` in seconds and goes on with the next batch. A failure also drains the
pool, so that after a restart every stale connection goes at once instead of one per retry,
and the pool gives up a reconnection after the same timeout, so that it connects again as
soon as the database is back instead of sleeping out an exponential backoff.
:class:`WalletStoreFactory` puts these recorders and pool settings together.

Writers' turns (:meth:`WalletRecorder.take_turn`): when several wallet processes write one
store, the ledger can make their writers take turns, so that a hot account (the bus operator,
credited by every fare) is not decided by two writers at once and lost by one of them at each
save. A turn is a session advisory lock on a connection of its own, taken together with the
events stored since the writer's last batch (one round trip, a server function), so the
writer brings its copies of the aggregates another process moved on up to date.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from kgo_runtime.recorder import LeanRecorder

TURN_FUNCTION = "kgo_writer_turn"
#: The advisory lock namespace of writers' turns (the relays' is 0x6B676F, "kgo").
TURN_LOCK_CLASS = 0x6B6770
#: How long a writer waits for its turn before it goes on without one (optimistically, as
#: before turns), and how soon after a failed turn connection it tries another.
TURN_WAIT = "2s"
TURN_RETRY_SECONDS = 5.0
#: Attempts of one read or save in the writer's path (the stock recorders make ten).
ATTEMPTS = 2

T = TypeVar("T")
#: The stock select without its decorator (ten retries, each waiting the pool's timeout).
_SELECT_EVENTS = PostgresAggregateRecorder.select_events.__wrapped__  # type: ignore[attr-defined]


def _fail_fast(datastore: PostgresDatastore, call: Callable[..., T], *args: Any, **kw: Any) -> T:
    """``call`` retried once if the store cannot be reached, and only while the pool's
    timeout has not passed since the first attempt."""
    started = time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call(*args, **kw)
        except (InterfaceError, OperationalError):
            # After a restart every pooled connection is dead: drop them all now.
            datastore.pool.drain()
            if attempt == ATTEMPTS or time.monotonic() - started >= datastore.pool.timeout:
                raise
    raise AssertionError("unreachable")


class WalletSnapshotRecorder(PostgresAggregateRecorder):
    """The snapshots' recorder, failing as fast as the events' (the writer reads both)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        call = PostgresAggregateRecorder.insert_events.__wrapped__  # type: ignore[attr-defined]
        return _fail_fast(self.datastore, call, self, stored_events, **kwargs)

    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        return _fail_fast(self.datastore, _SELECT_EVENTS, self, *args, **kwargs)


class WalletStoreFactory(PostgresFactory):
    """eventsourcing's Postgres persistence, set up for a writer that must fail fast and
    recover at once (``PERSISTENCE_MODULE``)."""

    aggregate_recorder_class = WalletSnapshotRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        # Give up a reconnection after the pool's timeout: the next waiting request starts
        # a new one at once, where the default (five minutes of backoff, up to a minute
        # between attempts) kept the writer away long after the database was back.
        pool.reconnect_timeout = pool.timeout
        assert isinstance(pool.kwargs, dict)
        pool.kwargs["connect_timeout"] = max(2, round(pool.timeout))  # libpq: whole seconds


class WalletRecorder(LeanRecorder):
    # Another writer holds the turn, or waits for it: say so (a -1 after the ids), so that
    # this writer takes turns too (see take_turn).
    insert_tail = (
        "IF NOT pg_try_advisory_xact_lock_shared({lock_class}, hashtext({key})) THEN "
        "RETURN NEXT -1; END IF; "
    )

    def names(self) -> dict[str, Any]:
        #: The writers' turn: one advisory lock per events table (see take_turn).
        return super().names() | {
            "lock_class": TURN_LOCK_CLASS,
            "key": f"{self.datastore.schema}.{self.events_table_name}",
        }

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        names = self.names()
        # The writer's turn: the lock, then (a statement of its own, so its snapshot sees every
        # batch committed before the lock was granted) the events stored after ``after``, at
        # most ``most`` of them, and the log's last notification id.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{turn}(after bigint, most int) "
                "RETURNS TABLE(originator_id uuid, originator_version bigint, topic text,"
                " state bytea, notification_id bigint) "
                "LANGUAGE plpgsql AS $BODY$ BEGIN "
                "PERFORM pg_advisory_lock({lock_class}, hashtext({key})); "
                "RETURN QUERY SELECT e.originator_id, e.originator_version, e.topic, e.state,"
                " e.notification_id FROM {schema}.{table} e"
                " WHERE after IS NOT NULL AND e.notification_id > after"
                " ORDER BY e.notification_id LIMIT most; "
                "RETURN QUERY SELECT NULL::uuid, NULL::bigint, NULL::text, NULL::bytea,"
                " max(e.notification_id) FROM {schema}.{table} e; "
                "END; $BODY$"
            ).format(turn=Identifier(f"{TURN_FUNCTION}_{self.events_table_name}"), **names)
        )
        self.turn_call = SQL("SELECT * FROM {schema}.{turn}(%s, %s)").format(
            schema=names["schema"], turn=Identifier(f"{TURN_FUNCTION}_{self.events_table_name}")
        )
        self.turn_end = SQL("SELECT pg_advisory_unlock({lock_class}, hashtext({key}))").format(
            **names
        )
        self._turn_conn: psycopg.Connection[Any] | None = None
        #: Set by a save that found another writer holding the turn or waiting for it (the
        #: ledger reads and clears it: a writer that never lost a save learns of the others).
        self.turn_wanted = False
        self._turn_retry_at = 0.0
        self.latest_versions_query = SQL(
            "SELECT originator_id, max(originator_version) FROM {schema}.{table}"
            " WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(**names)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return _fail_fast(self.datastore, self._insert_stored, stored_events)

    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        return _fail_fast(self.datastore, _SELECT_EVENTS, self, *args, **kwargs)

    def latest_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each stored aggregate's latest version, in one query (the writer checks the
        copies it only read against them)."""
        return _fail_fast(self.datastore, self._latest_versions, ids)

    def _latest_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.latest_versions_query, (list(ids),), prepare=True)
            return {row[0]: row[1] for row in curs.fetchall()}

    def take_turn(self, after: int | None, most: int) -> tuple[list[StoredEvent], int] | None:
        """Wait for this store's writers' turn (at most :data:`TURN_WAIT`) and take it: the
        events stored after notification ``after`` (none when ``after`` is None; at most
        ``most``, in the log's order) and the log's last notification id. None when no turn
        could be taken (the lock not granted in time, or no connection for it): the writer
        goes on without. Every taken turn ends with :meth:`end_turn`."""
        conn = self._turn_connection()
        if conn is None:
            return None
        try:
            with conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(self.turn_call, (after, most), prepare=True)
                rows = curs.fetchall()
        except psycopg.Error:
            self._drop_turn_connection()
            return None
        last = rows[-1][4] if rows and rows[-1][0] is None else None
        stored = [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in rows if r[0] is not None]
        return stored, (0 if last is None else int(last))

    def end_turn(self) -> None:
        conn = self._turn_conn
        if conn is None:
            return
        try:
            conn.execute(self.turn_end, prepare=True)
        except psycopg.Error:
            self._drop_turn_connection()  # the session's end releases the lock

    def close_turns(self) -> None:
        self._drop_turn_connection()

    def _turn_connection(self) -> psycopg.Connection[Any] | None:
        if self._turn_conn is not None and not self._turn_conn.closed:
            return self._turn_conn
        if time.monotonic() < self._turn_retry_at:
            return None
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)
        kwargs = {k: v for k, v in pool.kwargs.items() if k != "row_factory"}
        kwargs["connect_timeout"] = 2
        try:
            self._turn_conn = psycopg.connect(pool.conninfo, autocommit=True, **kwargs)
            self._turn_conn.execute(f"SET lock_timeout = '{TURN_WAIT}'")
        except psycopg.Error:
            self._drop_turn_connection()
            return None
        return self._turn_conn

    def _drop_turn_connection(self) -> None:
        conn, self._turn_conn = self._turn_conn, None
        self._turn_retry_at = time.monotonic() + TURN_RETRY_SECONDS
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def select_events_of(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        """As the lean recorder's, failing fast: the writer reads the instruments of a whole
        batch at once (application/unit_of_work.py)."""
        return _fail_fast(self.datastore, self._select_events_of, originator_ids)

    # The relay and the directory follow the log: they retry with their own backoff.
    def _following(self, start: int, limit: int) -> list[Notification]:
        return _fail_fast(self.datastore, self._notifications_from, start, limit)

    def _select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        call = PostgresApplicationRecorder.select_notifications.__wrapped__  # type: ignore[attr-defined]
        return _fail_fast(self.datastore, call, self, *args, **kwargs)

    def max_notification_id(self) -> int | None:
        call = PostgresApplicationRecorder.max_notification_id.__wrapped__  # type: ignore[attr-defined]
        return _fail_fast(self.datastore, call, self)

    def insert_said(self, signal: int) -> None:
        self.turn_wanted = True  # another writer holds or waits for the turn
