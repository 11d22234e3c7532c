"""The relay: publishes an eventsourcing application's stored events to Kafka in the order of
its notification log, from a position kept in Postgres (``relay_positions``).

No dual writes: commands only store events; the relay reads them back. A batch is produced
(all records sent, then every delivery awaited) before its last notification id is stored,
so a crash republishes at most one batch (at-least-once), under the same ``ce_id``s: each is
derived from the stored event's originator id, version and stored timestamp (unique per
stored event, also across a forked history), and consumers drop repeats.
Each record also carries its notification id, the ``kgo_position`` header: a republished
record has the same one, and the daily digests' ranges are counted in it.
One relay per name and schema publishes at a time (a Postgres advisory lock); others wait on
standby.
The Postgres recorder's ``NOTIFY`` wakes the relay; it polls otherwise.

Speed (bench/relay.py): the next batch is read and encoded in a worker thread while the last
one is being acknowledged (its position is stored only after every record up to it was);
stored events of an ``internal_topic`` are passed without being decoded; a service that knows
its stored JSON reads its published events straight to their contracts (``read_stored``),
without building eventsourcing's domain events; records go to the producer as per-partition
batches (:mod:`kgo_runtime.producing`).

Gaps: eventsourcing's default insert locks the events table, so ids commit in order and a
gap is a rolled-back insert, passed at once. With ``POSTGRES_ENABLE_DB_FUNCTIONS=y`` there is
no such lock and a gap may be a transaction in flight: the relay waits ``gap_grace`` for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from eventsourcing import persistence as es_persistence
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from kgo_contracts.base import ContractEvent
from kgo_runtime.envelope import OutgoingRecord, default_topic, encode, stable_event_id
from kgo_runtime.kafka_security import kafka_client_options
from kgo_runtime.logging import get_logger
from kgo_runtime.metrics import Metrics
from kgo_runtime.postgres import (
    Database,
    SessionLost,
    create_tables,
    open_pool,
    schema_name,
    still_open,
)
from kgo_runtime.producing import produce

#: Maps a stored domain event to its published contract; ``None`` keeps it internal. Make it
#: exhaustive (raise on a class it does not know): a ``None`` by mistake is never published.
ToContract = Callable[[DomainEventProtocol[Any]], ContractEvent | None]
#: Reads one stored event straight to what ``to_contract`` gives for its domain event, with
#: the event's stored timestamp (its ``ce_id`` is made of it), without building the domain
#: event; None leaves this one to the domain event path (which raises if it cannot be mapped).
ReadStored = Callable[[Notification], tuple[ContractEvent, datetime] | None]
#: The direct reader of a stored event topic, or None: its events take the domain event path.
StoredReaders = Callable[[str], ReadStored | None]

#: Idempotent (the producer's own retries never duplicate), acknowledged by all replicas.
PRODUCER_OPTIONS: dict[str, Any] = {
    "enable_idempotence": True, "acks": "all", "linger_ms": 5, "max_batch_size": 256 * 1024
}  # fmt: skip
_LOCK_CLASS = 0x6B676F  # "kgo": the advisory lock namespace of relays
#: Longest pause between two attempts while Postgres or Kafka cannot be reached.
MAX_BACKOFF = 2.0
#: Failures that mean Postgres or Kafka cannot be reached now, not a bug: retried in place.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
    KafkaError,
)

log = get_logger(__name__)


def stored_event_id(event: DomainEventProtocol[Any]) -> str:
    """The ``ce_id`` a stored event is published under: its aggregate, version and stored
    timestamp, so a forked history's new events are never taken for the lost ones."""
    return stable_event_id(event.originator_id, event.originator_version, event.timestamp)


#: One read of the log: (its last notification id or None, the records to produce, how many
#: notifications were internal).
_Batch = tuple[int | None, list[OutgoingRecord], int]


class _Stopped(Exception):
    """stop() was called while the relay waited on standby."""


class Relay:
    """Event store → Kafka. Run it as a component (``run``/``stop``) or, in tests and tools,
    as ``async with relay: await relay.drain()``."""

    def __init__(
        self,
        app: Application[Any],
        to_contract: ToContract,
        *,
        name: str,
        source: str,
        kafka_bootstrap: str,
        db: Database,
        schema: str = "public",
        metrics: Metrics | None = None,
        topic_for: Callable[[ContractEvent], str] = default_topic,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        gap_grace: float | None = None,
        internal_topic: Callable[[str], bool] | None = None,
        read_stored: StoredReaders | None = None,
    ) -> None:
        self.name = f"relay:{name}"
        self.relay_name = name
        self._app = app
        self._to_contract = to_contract
        self._source = source
        self._bootstrap = kafka_bootstrap
        self._db = db
        self._table = f"{schema_name(schema)}.relay_positions"
        #: What the advisory lock is taken on: the relay's name within its schema. Two event
        #: stores in two schemas of one database (parallel tests, a developer's running
        #: platform) are different stores, and their relays must not wait on each other.
        self._lock_key = f"{schema_name(schema)}:{name}"
        self._metrics = metrics or Metrics(service=name)
        self._topic_for = topic_for
        self._batch_size = batch_size
        #: Stored event topics never published (what ``to_contract`` maps to None), passed
        #: without decoding them: decoding is most of the relay's cost, and a ledger stores
        #: as many internal events (receipts) as published ones. Remembered per topic.
        self._internal_topic = internal_topic
        self._internal: dict[str, bool] = {}
        #: Direct readers per stored event topic (``read_stored``; must agree with
        #: ``to_contract`` for every event it reads), remembered per topic.
        self._read_stored = read_stored
        self._readers: dict[str, ReadStored | None] = {}
        #: The next batch, read while the last one is being delivered: (after, read).
        self._ahead: tuple[int, asyncio.Task[_Batch]] | None = None
        self._poll_interval = poll_interval
        datastore = getattr(app.recorder, "datastore", None)
        uses_db_functions = bool(getattr(datastore, "enable_db_functions", False))
        self._gap_grace = gap_grace if gap_grace is not None else (1.0 if uses_db_functions else 0)
        self._gaps: dict[int, float] = {}
        #: eventsourcing's Postgres recorder NOTIFYs this channel when it stores events.
        self._channel: str | None = getattr(app.recorder, "channel_name", None)
        self._position = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._owns_pool = False
        self._lock_conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_lag_check = 0.0
        #: (max notification id, when first seen): how old the oldest unpublished event is.
        self._seen_stored: deque[tuple[int, float]] = deque()

    @property
    def position(self) -> int:
        """The last notification id delivered to Kafka and stored."""
        return self._position

    async def __aenter__(self) -> Relay:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect, become the only active relay of this name, load the stored position."""
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise

    async def _open(self) -> None:
        self._pool, self._owns_pool = await open_pool(self._db)
        await create_tables(
            self._pool,
            f"CREATE TABLE IF NOT EXISTS {self._table} "
            "(relay_name text PRIMARY KEY, position bigint NOT NULL)",
        )
        self._lock_conn = await self._pool.acquire()
        await self._take_lock(self._lock_conn)
        if self._channel:
            await self._lock_conn.add_listener(self._channel, self._on_notify)
        stored = await self._pool.fetchval(
            f"SELECT position FROM {self._table} WHERE relay_name = $1", self.relay_name
        )
        self._position = int(stored or 0)
        self._metrics.relay_position.labels(self.relay_name).set(self._position)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=f"kgo-{self.name}",
            **PRODUCER_OPTIONS,
            **kafka_client_options(),
        )
        await self._producer.start()
        log.info("relay open", relay=self.relay_name, position=self._position)

    async def _take_lock(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        sql = "SELECT pg_try_advisory_lock($1, hashtext($2))"
        if await conn.fetchval(sql, _LOCK_CLASS, self._lock_key):
            return
        log.info("relay on standby: another process holds it", relay=self.relay_name)
        while not await conn.fetchval(sql, _LOCK_CLASS, self._lock_key):
            if self._stopping.is_set():
                raise _Stopped
            await self._sleep(1.0)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def close(self) -> None:
        """Flush and close the producer, release the lock and (if ours) the pool."""
        if self._ahead is not None:
            with contextlib.suppress(Exception):
                await self._ahead[1]
            self._ahead = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        if self._lock_conn is not None and self._pool is not None:
            with contextlib.suppress(Exception):
                if self._channel:
                    await self._lock_conn.remove_listener(self._channel, self._on_notify)
                await self._pool.release(self._lock_conn, timeout=2)
            self._lock_conn = None
        if self._pool is not None and self._owns_pool:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
        self._pool = None

    async def run(self) -> None:
        """Component entry point: relay until ``stop()``. A batch failing because Postgres or
        Kafka cannot be reached is retried in place with a capped backoff, and a lost lock
        connection (a Postgres restart) is replaced, so an outage only delays the relay; any
        other failure, a few times in a row, makes ``run`` raise so the supervisor reopens all."""
        try:
            await self.open()
            await self._loop()
        except _Stopped:
            pass
        finally:
            await self.close()

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if not self._holds_lock():
                    await self._take_lock_again()
                moved = await self.relay_once()
                # Going idle, the gauge is measured afresh: a reader that sees lag 0 (the
                # simulator's quiescence barrier, an operator) then knows nothing stored
                # before that check is unpublished, not just nothing before the last check.
                await self._update_lag(force=not moved)
            except _Stopped:
                raise
            except Exception as error:
                failures += 1
                self._metrics.relay_errors.labels(self.relay_name).inc()
                with contextlib.suppress(Exception):  # a stuck relay shows its lag growing
                    await self._update_lag()
                transient = isinstance(error, TRANSIENT)
                if failures >= 5 and not transient:
                    raise
                if failures == 1 or not transient:
                    log.warning("relay batch failed; retrying", relay=self.relay_name,
                                transient=transient, exc_info=True)  # fmt: skip
                await self._sleep(min(0.1 * 2**failures, MAX_BACKOFF))
                continue
            if failures:
                log.info("relay recovered", relay=self.relay_name, failures=failures)
            failures = 0
            if not moved:
                await self._idle()

    def _holds_lock(self) -> bool:
        """Whether the session holding the advisory lock is still alive (``still_open``)."""
        return self._lock_conn is not None and still_open(self._lock_conn)

    async def _take_lock_again(self) -> None:
        """A new lock session: the lock went with the old one, so another relay may have
        published meanwhile; go on from the stored position."""
        assert self._pool is not None
        lost, self._lock_conn = self._lock_conn, None
        if lost is not None:
            log.warning("relay lost its lock connection; taking the lock again",
                        relay=self.relay_name)  # fmt: skip
            with contextlib.suppress(Exception):
                await self._pool.release(lost, timeout=2)
        conn = await self._pool.acquire()
        try:
            await self._take_lock(conn)
            if self._channel:
                await conn.add_listener(self._channel, self._on_notify)
            stored = await conn.fetchval(
                f"SELECT position FROM {self._table} WHERE relay_name = $1", self.relay_name
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._pool.release(conn, timeout=2)
            raise
        self._lock_conn = conn
        self._position = max(self._position, int(stored or 0))
        self._gaps.clear()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _idle(self) -> None:
        timeout = 1.0 if self._channel and not self._gaps else self._poll_interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def drain(self) -> int:
        """Relay everything stored now; returns the number of notifications passed."""
        total = 0
        while moved := await self.relay_once():
            total += moved
        await self._update_lag(force=True)
        return total

    async def caught_up(self, timeout: float = 30.0) -> None:
        """Wait until the running relay has delivered everything stored before this call."""
        target = await asyncio.to_thread(self._app.recorder.max_notification_id) or 0
        deadline = time.monotonic() + timeout
        while self._position < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"relay {self.relay_name} at {self._position} < {target}")
            await asyncio.sleep(0.02)

    async def relay_once(self) -> int:
        """Relay one batch; returns how many notifications it passed (0: nothing new)."""
        assert self._producer is not None, "open() the relay first"
        last_id, records, internal = await self._next_batch()
        if last_id is None:
            return 0
        deliveries = await produce(self._producer, records)
        # Read (and encode) the next batch while this one is acknowledged; the position moves
        # only after every record up to it was, so a crash still republishes at most a batch.
        self._ahead = (last_id, asyncio.create_task(asyncio.to_thread(self._read_batch, last_id)))
        await asyncio.gather(*deliveries)
        await self._store_position(last_id)
        moved = len(records) + internal
        self._metrics.relay_events.labels(self.relay_name).inc(len(records))
        self._metrics.relay_skipped.labels(self.relay_name).inc(internal)
        return moved

    async def _next_batch(self) -> _Batch:
        """The batch after the position: the one read ahead if it starts there and is not
        empty (events stored since are in the next), else a fresh read."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            after, reading = ahead
            if after == self._position:
                batch = await reading
                if batch[0] is not None:
                    return batch
            else:  # the last batch failed, or the lock was lost and taken again
                with contextlib.suppress(Exception):
                    await reading
        return await asyncio.to_thread(self._read_batch, self._position)

    def _is_internal(self, topic: str) -> bool:
        internal = self._internal.get(topic)
        if internal is None:
            assert self._internal_topic is not None
            internal = self._internal[topic] = self._internal_topic(topic)
        return internal

    def _reader(self, topic: str) -> ReadStored | None:
        try:
            return self._readers[topic]
        except KeyError:
            assert self._read_stored is not None
            reader = self._readers[topic] = self._read_stored(topic)
            return reader

    def _read_batch(self, after: int) -> _Batch:
        """In a worker thread: select, admit past gaps, map and encode one batch."""
        selected = self._app.recorder.select_notifications(after + 1, self._batch_size)
        notifications = self._admit(after, selected)
        records: list[OutgoingRecord] = []
        skip = self._is_internal if self._internal_topic is not None else None
        reader = self._reader if self._read_stored is not None else None
        for notification in notifications:
            if skip is not None and skip(notification.topic):
                continue
            read = reader(notification.topic) if reader is not None else None
            direct = read(notification) if read is not None else None
            if direct is not None:
                contract, stored_at = direct
                ce_id = stable_event_id(
                    notification.originator_id, notification.originator_version, stored_at
                )
            else:
                event = self._app.mapper.to_domain_event(notification)
                mapped = self._to_contract(event)
                if mapped is None:
                    continue
                contract, ce_id = mapped, stored_event_id(event)
            record = encode(
                contract, ce_id=ce_id, source=self._source, topic_for=self._topic_for,
                position=notification.id,
            )  # fmt: skip
            records.append(record)
        last_id = notifications[-1].id if notifications else None
        return last_id, records, len(notifications) - len(records)

    def _admit(self, after: int, selected: Sequence[Notification]) -> Sequence[Notification]:
        """The notifications safe to relay now: stop at a gap younger than ``gap_grace``."""
        if self._gap_grace <= 0:
            return selected
        expected = after + 1
        now = time.monotonic()
        for i, notification in enumerate(selected):
            if notification.id != expected:
                first_seen = self._gaps.setdefault(expected, now)
                if now - first_seen < self._gap_grace:
                    return selected[:i]
                log.info("relay passing a gap", relay=self.relay_name, missing=expected)
            expected = notification.id + 1
        return selected

    async def _store_position(self, position: int) -> None:
        # On the lock's own session: no pool acquire and release per batch (asyncpg resets a
        # released connection with a query of its own), and only the lock holder writes. A
        # session the server ended meanwhile fails the batch as transient; the loop then
        # takes the lock again on a new one (the records go out again, as after a crash).
        conn = self._lock_conn
        if conn is None or not self._holds_lock():
            raise SessionLost("the relay's lock session ended before its position was stored")
        try:
            await conn.execute(
                f"INSERT INTO {self._table} AS p (relay_name, position) VALUES ($1, $2) "
                "ON CONFLICT (relay_name) DO UPDATE SET position = EXCLUDED.position "
                "WHERE p.position < EXCLUDED.position",
                self.relay_name,
                position,
            )
        except asyncpg.InterfaceError:
            if still_open(conn):
                raise
            raise SessionLost("the relay's lock session ended while storing its position") from None
        self._position = position
        self._gaps = {k: v for k, v in self._gaps.items() if k > position}
        self._metrics.relay_position.labels(self.relay_name).set(position)

    async def _update_lag(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_lag_check < 0.5:
            return
        self._last_lag_check = now
        max_id = await asyncio.to_thread(self._app.recorder.max_notification_id) or 0
        self._metrics.relay_lag.labels(self.relay_name).set(max(0, max_id - self._position))
        self._metrics.relay_lag_seconds.labels(self.relay_name).set(self._waited(max_id, now))

    def _waited(self, max_id: int, now: float) -> float:
        """Seconds since the oldest unpublished event was first seen stored (to the lag
        check's resolution; a restarted relay starts counting when it starts)."""
        seen = self._seen_stored
        if max_id > (seen[-1][0] if seen else self._position):
            if len(seen) >= _SEEN_LIMIT:
                seen[-1] = (max_id, seen[-1][1])  # widen the newest entry, keep its age
            else:
                seen.append((max_id, now))
        while seen and seen[0][0] <= self._position:
            seen.popleft()
        return now - seen[0][1] if seen and max_id > self._position else 0.0


#: At most this many first-seen marks are kept (one per lag check that saw new events).
_SEEN_LIMIT = 4096
