"""eventsourcing's Postgres application recorder with a leaner insert and batch reads, one
round trip each: the event store of every KGO service (``APPLICATION_RECORDER_TOPIC``, set
by :func:`kgo_runtime.eventstore.eventstore_env`).

The stock recorder's insert is a pipelined transaction of several statements (table lock,
NOTIFY, the insert, commit) that psycopg drives with a dozen waits, and it sends the rows as
one array of a composite type that psycopg escapes in Python with regular expressions. Here
one call to a small server function does the same things in the same order —
``LOCK TABLE ... IN EXCLUSIVE MODE`` first, so notification ids still commit in order and no
follower of the log can pass a transaction in flight — with the rows as four plain arrays
sent in binary. What is stored is exactly what the stock recorder stores, and failures to
reach the store are retried as the stock recorder retries them.

Reads in one round trip: :meth:`LeanRecorder.select_events_of` (every event of many
aggregates) and the followers' ``select_notifications(start, limit)`` (one statement made
once, rows as tuples, where the stock recorder composes its SQL and makes a dict of each row
on every call). The wallet's recorder (services/wallet/adapters/recorder.py) builds on this
one with its writers' turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier

#: The insert function's name (one per events table: ``kgo_insert_events_<table>``).
FUNCTION = "kgo_insert_events"

#: How the stock recorder retries a statement when the store cannot be reached.
_stock_retry = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


class LeanRecorder(PostgresApplicationRecorder):
    #: SQL the insert function runs after the insert, inside its transaction (``{names}`` of
    #: :meth:`names` are formatted in); a subclass may ``RETURN NEXT`` a negative value
    #: after the ids to tell its writer something (see the wallet's turns).
    insert_tail: ClassVar[str] = ""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        names = self.names()
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}"
                "(ids uuid[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ BEGIN "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
                + self.insert_tail
                + "END; $BODY$"
            ).format(**names)
        )
        self.insert_call = SQL(
            "SELECT * FROM {schema}.{function}(%b, %b, %b, %b) AS t(notification_id)"
        ).format(**names)
        self.select_events_of_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(**names)
        self.notifications_from = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {schema}.{table} WHERE notification_id >= %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(**names)

    def names(self) -> dict[str, Composable]:
        """The identifiers the statements of this recorder are made of."""
        return {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "function": Identifier(f"{FUNCTION}_{self.events_table_name}"),
            "channel": Identifier(self.channel_name),
        }

    # --- writing -----------------------------------------------------------------------------

    @_stock_retry
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return self._insert_stored(stored_events)

    def _insert_stored(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The insert, its signals heard (the stock recorder's ``_insert_events`` takes a
        cursor of its transaction: this is another method, not an override)."""
        ids = self._insert_returning(stored_events)
        while ids and ids[-1] < 0:
            self.insert_said(ids.pop())
        return ids

    def insert_said(self, signal: int) -> None:
        """A negative value the insert function returned after the ids (``insert_tail``)."""

    def _insert_returning(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        rows = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        # An autocommit connection: the one statement is the whole transaction, so the
        # table lock is held until its commit, as in the stock recorder.
        # Plain tuples back: a dict per returned id cost more than dumping the rows.
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.insert_call, rows, prepare=True)
            return [row[0] for row in curs.fetchall()]

    # --- reading -----------------------------------------------------------------------------

    @_stock_retry
    def select_events_of(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        """Every stored event of the aggregates ``originator_ids``, by aggregate and version,
        in one round trip (a writer reads a whole batch's aggregates at once instead of one
        after another)."""
        return self._select_events_of(originator_ids)

    def _select_events_of(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        if not originator_ids:
            return []
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.select_events_of_statement, (list(originator_ids),), prepare=True)
            rows = curs.fetchall()
        return [StoredEvent(row[0], row[1], row[2], bytes(row[3])) for row in rows]

    def select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        if len(args) == 2 and not kwargs and type(args[0]) is int:
            # How the relay and the other followers read the log (from a position, a batch
            # at a time).
            following: list[Notification] = self._following(*args)
            return following
        return self._select_notifications(*args, **kwargs)

    def _select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        """Every other read of the log: the stock recorder's (with its retries)."""
        found: Sequence[Notification] = super().select_notifications(*args, **kwargs)
        return found

    @_stock_retry
    def _following(self, start: int, limit: int) -> list[Notification]:
        return self._notifications_from(start, limit)

    def _notifications_from(self, start: int, limit: int) -> list[Notification]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.notifications_from, (start, limit), prepare=True)
            rows = curs.fetchall()
        return [Notification(id=r[0], originator_id=r[1], originator_version=r[2], topic=r[3],
                             state=bytes(r[4])) for r in rows]  # fmt: skip
