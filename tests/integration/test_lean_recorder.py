"""Every service's event store (kgo_runtime/recorder.py): one round trip per insert, and it
stores exactly what eventsourcing's stock recorder stores, refuses a stale save as the stock
one does, and reads many aggregates, and the log, in one statement each."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from kgo_runtime.eventstore import eventstore_env, get_many
from kgo_runtime.recorder import LeanRecorder
from kgo_runtime.settings import InfraSettings
from tests.unit.test_runtime_application import Counter

pytestmark = pytest.mark.integration

URL = InfraSettings().database_url("transit")


class Store(Application[Any]):
    name = "lean"


@pytest.fixture
def open_store() -> Iterator[Any]:
    opened: list[tuple[Store, str]] = []

    def open_one(**extra: str) -> Store:
        schema = f"test_lean_{uuid4().hex[:10]}"
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        store = Store(env=eventstore_env(URL, schema=schema, extra={"CREATE_TABLE": "y", **extra}))
        opened.append((store, schema))
        return store

    yield open_one
    for store, schema in opened:
        store.close()
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _rows(store: Store) -> list[tuple[Any, ...]]:
    with psycopg.connect(URL) as conn:
        return conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM "
            f'"{store.recorder.datastore.schema}".lean_events ORDER BY notification_id'  # type: ignore[attr-defined]
        ).fetchall()


def _history(store: Store) -> list[Counter]:
    """Three counters, each counted up three times, saved two at a time."""
    counters = [Counter(f"c{n}") for n in range(3)]
    store.save(*counters[:2])
    store.save(counters[2])
    for by in (1, 2, 3):
        for counter in counters:
            counter.count_up(by)
        store.save(*counters)
    return counters


def test_it_stores_what_the_stock_recorder_stores(open_store: Any) -> None:
    lean = open_store()
    stock = open_store(
        APPLICATION_RECORDER_TOPIC="eventsourcing.postgres:PostgresApplicationRecorder"
    )
    assert type(lean.recorder) is LeanRecorder
    ids = [c.id for c in _history(lean)]
    for counter in [Counter(f"c{n}") for n in range(3)]:
        stock.save(counter)  # the same shape of log, other ids
    assert len(_rows(lean)) == 12
    assert [r[0] for r in _rows(lean)] == list(range(1, 13))
    assert [(r[2], r[3]) for r in _rows(lean)][:3] == [(r[2], r[3]) for r in _rows(stock)]
    # Each store reads the other's rows: the payloads are in the stock format.
    copied = open_store(
        APPLICATION_RECORDER_TOPIC="eventsourcing.postgres:PostgresApplicationRecorder",
        TRANSCODER_TOPIC="eventsourcing.persistence:JSONTranscoder",
    )
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{copied.recorder.datastore.schema}".lean_events'  # type: ignore[attr-defined]
            f' SELECT * FROM "{lean.recorder.datastore.schema}".lean_events'  # type: ignore[attr-defined]
        )
    assert [copied.repository.get(i).count for i in ids] == [6, 6, 6]


def test_a_stale_save_is_refused_and_stores_nothing(open_store: Any) -> None:
    store = open_store()
    counter = Counter("c")
    store.save(counter)
    first, second = store.repository.get(counter.id), store.repository.get(counter.id)
    first.count_up(1)
    other = Counter("other")
    store.save(first)
    second.count_up(5)
    with pytest.raises(IntegrityError):
        store.save(other, second)
    assert store.repository.get(counter.id).count == 1
    assert other.id not in store.repository
    assert [r[0] for r in _rows(store)] == [1, 2]


def test_concurrent_writers_commit_notification_ids_in_order(open_store: Any) -> None:
    store = open_store()

    def write(n: int) -> None:
        for _ in range(20):
            store.save(Counter(f"w{n}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    assert [r[0] for r in _rows(store)] == list(range(1, 161))


def test_reads_of_many_aggregates_and_of_the_log(open_store: Any) -> None:
    store = open_store()
    counters = _history(store)
    recorder = store.recorder
    assert isinstance(recorder, LeanRecorder)

    events = recorder.select_events_of([c.id for c in counters[:2]])
    assert [(e.originator_id, e.originator_version) for e in events] == sorted(
        (c.id, v) for c in counters[:2] for v in (1, 2, 3, 4)
    )
    assert recorder.select_events_of([]) == []
    followed = recorder.select_notifications(5, 4)
    stock = recorder.select_notifications(5, 4, inclusive_of_start=True, topics=())
    assert [n.id for n in followed] == [5, 6, 7, 8]
    assert followed == stock


def test_get_many_reads_what_another_writer_saved_and_never_changes_a_cached_copy(
    open_store: Any,
) -> None:
    """kgo_runtime.eventstore.get_many over a cache, beside a second process's store."""
    ours = open_store(AGGREGATE_CACHE_MAXSIZE="100")
    schema = ours.recorder.datastore.schema  # type: ignore[attr-defined]
    env = eventstore_env(URL, schema=schema, extra={"AGGREGATE_CACHE_MAXSIZE": "100"})
    theirs = Store(env=env)
    try:
        counters = [Counter(f"c{n}") for n in range(3)]
        ours.save(*counters)
        first = get_many(ours, [c.id for c in counters] + [uuid4()])
        assert [first[c.id].count for c in counters] == [0, 0, 0] and len(first) == 3

        first[counters[0].id].count_up(100)  # the caller's own copy: not saved, not cached
        moved = theirs.repository.get(counters[1].id)
        moved.count_up(7)
        theirs.save(moved)

        again = get_many(ours, [c.id for c in counters])
        assert [again[c.id].count for c in counters] == [0, 7, 0]
        assert again[counters[1].id].version == 2
        cached = ours.repository.cache.get(counters[1].id)  # type: ignore[union-attr]
        assert cached is not again[counters[1].id] and cached.version == 2
    finally:
        theirs.close()
