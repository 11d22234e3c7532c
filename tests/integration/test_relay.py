"""The relay on the real broker and Postgres: stored events arrive once or more, never lost,
always under the same ids, keyed by wallet and in order per key.

Each test stores events with a Postgres-backed eventsourcing application in a schema of its
own and relays them to a topic of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from eventsourcing.application import Application

from kgo_runtime.envelope import decode, header_map
from kgo_runtime.eventstore import open_application
from kgo_runtime.metrics import Metrics
from kgo_runtime.relay import Relay, stored_event_id
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import (
    create_topics,
    delete_topics,
    fresh_schema,
    read_topic,
    store_residents,
    unique_name,
)
from kgo_runtime.testing import resident_to_contract as to_contract

pytestmark = pytest.mark.integration

INFRA = InfraSettings()
BOOTSTRAP = INFRA.kafka_bootstrap
DSN = INFRA.database_url("missions")


def published(app: Application[uuid.UUID]) -> dict[str, tuple[uuid.UUID, int]]:
    """ce_id -> (wallet, version) of every stored event the relay must publish."""
    return {
        stored_event_id(app.mapper.to_domain_event(n)): (
            uuid.UUID(str(n.originator_id)),
            n.originator_version,
        )
        for n in app.recorder.select_notifications(1, 100_000)
        if n.topic.endswith("MissionCompleted")
    }


def make_relay(
    app: Application[uuid.UUID], schema: str, topic: str, relay_cls: type[Relay] = Relay, **kw: Any
) -> Relay:
    return relay_cls(
        app,
        to_contract,
        name=f"relay_{topic}",
        source="/kgo/missions",
        kafka_bootstrap=BOOTSTRAP,
        db=DSN,
        schema=schema,
        metrics=Metrics("test"),
        topic_for=lambda _event: topic,
        **kw,
    )


@pytest.fixture
async def store() -> AsyncIterator[tuple[str, Application[uuid.UUID]]]:
    async with fresh_schema(DSN, "t_relay") as schema:
        app = await open_application(Application, DSN, schema=schema)
        try:
            yield schema, app
        finally:
            await asyncio.to_thread(app.close)


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    name = unique_name("t.relay")
    await create_topics(BOOTSTRAP, [name], partitions=3)
    yield name
    await delete_topics(BOOTSTRAP, [name])


async def test_stored_events_arrive_keyed_in_order_with_cloudevent_headers(
    store: tuple[str, Application[uuid.UUID]], topic: str
) -> None:
    schema, app = store
    await asyncio.to_thread(store_residents, app, 6, 8)
    relay = make_relay(app, schema, topic)
    running = asyncio.create_task(relay.run())
    await relay.caught_up(timeout=30)
    # Stored while the relay idles: the recorder's NOTIFY wakes it.
    await asyncio.to_thread(store_residents, app, 3, 5)
    await relay.caught_up(timeout=10)
    await relay.stop()
    await asyncio.wait_for(running, 10)

    expected = published(app)
    records = await read_topic(BOOTSTRAP, topic, count=len(expected))
    assert len(expected) == 6 * 8 + 3 * 5
    assert sorted(decode(r.headers, r.value).id for r in records) == sorted(expected)

    versions_by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in records:  # partition, then offset order
        attrs = header_map(record.headers)
        wallet, version = expected[attrs["ce_id"]]
        assert record.key == str(wallet).encode()
        assert attrs["ce_specversion"] == "1.0"
        assert attrs["ce_source"] == "/kgo/missions"
        assert attrs["ce_type"] == "kgo.missions.MissionCompleted.v1"
        assert attrs["ce_subject"] == str(wallet)
        assert attrs["ce_time"].endswith("+07:00")
        assert attrs["content-type"] == "application/json"
        versions_by_key[record.key].append(version)
    assert len(versions_by_key) == 9
    assert all(versions == sorted(versions) for versions in versions_by_key.values())

    conn = await asyncpg.connect(DSN)
    try:
        stored = await conn.fetchval(
            f"SELECT position FROM {schema}.relay_positions WHERE relay_name = $1",
            relay.relay_name,
        )
    finally:
        await conn.close()
    assert stored == app.recorder.max_notification_id()


async def test_a_relay_whose_lock_session_dies_takes_the_lock_again_and_goes_on(
    store: tuple[str, Application[uuid.UUID]], topic: str
) -> None:
    """What a Postgres restart does to the relay's lock session, on the shared server: the
    session is ended under it. The relay takes a new one and goes on, without failing."""
    schema, app = store
    await asyncio.to_thread(store_residents, app, 2, 3)
    relay = make_relay(app, schema, topic)
    running = asyncio.create_task(relay.run())
    await relay.caught_up(timeout=30)
    assert relay._lock_conn is not None
    old_pid = relay._lock_conn.get_server_pid()

    conn = await asyncpg.connect(DSN)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", old_pid)
        await asyncio.to_thread(store_residents, app, 2, 3)
        await relay.caught_up(timeout=20)
        holders = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = $1 AND pid <> $2",
            0x6B676F,
            old_pid,
        )
    finally:
        await conn.close()
    assert not running.done(), running
    assert holders >= 1
    await relay.stop()
    await asyncio.wait_for(running, 10)

    expected = published(app)
    records = await read_topic(BOOTSTRAP, topic, count=len(expected))
    assert {decode(r.headers, r.value).id for r in records} == set(expected)


class HangsBeforeSecondPosition(Relay):
    """Delivers its second batch to Kafka, then hangs before storing the position: the window
    where a crash makes a relay publish again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hung = asyncio.Event()
        self._stores = 0

    async def _store_position(self, position: int) -> None:
        self._stores += 1
        if self._stores == 2:
            self.hung.set()
            await asyncio.Event().wait()
        await super()._store_position(position)


async def test_a_relay_killed_between_publish_and_position_loses_nothing_and_keeps_ids(
    store: tuple[str, Application[uuid.UUID]], topic: str
) -> None:
    schema, app = store
    await asyncio.to_thread(store_residents, app, 10, 9)  # 100 notifications
    crashing = make_relay(app, schema, topic, HangsBeforeSecondPosition, batch_size=30)
    assert isinstance(crashing, HangsBeforeSecondPosition)
    running = asyncio.create_task(crashing.run())
    await asyncio.wait_for(crashing.hung.wait(), 30)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert crashing.position == 30

    async with make_relay(app, schema, topic) as restarted:
        assert restarted.position == 30
        await restarted.drain()
        assert restarted.position == 100

    expected = published(app)
    records = await read_topic(BOOTSTRAP, topic, count=len(expected))
    ids = [decode(r.headers, r.value).id for r in records]
    assert set(ids) <= set(expected)
    assert set(ids) == set(expected)
    assert len(ids) > len(expected)  # the second batch went out twice, under the same ids


# The relay process imports this module under the name pytest gave it, for make_relay; the
# stored events' classes live in kgo_runtime.testing, the same module in both processes.
RELAY_SCRIPT = """
import asyncio, importlib, sys
sys.path[:0] = [{root!r}, {tests_dir!r}]
from eventsourcing.application import Application
from kgo_runtime.eventstore import open_application
here = importlib.import_module({module!r})

async def main():
    app = await open_application(Application, here.DSN, schema={schema!r})
    await here.make_relay(app, {schema!r}, {topic!r}, batch_size=5).run()

asyncio.run(main())
"""


async def test_a_relay_process_killed_mid_stream_loses_nothing_and_keeps_ids(
    store: tuple[str, Application[uuid.UUID]], topic: str
) -> None:
    schema, app = store
    await asyncio.to_thread(store_residents, app, 20, 14)  # 300 notifications
    script = RELAY_SCRIPT.format(
        root=str(PROJECT_ROOT),
        tests_dir=str(Path(__file__).parent),
        module=__name__,
        schema=schema,
        topic=topic,
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT)
    conn = await asyncpg.connect(DSN)
    try:
        killed_at = 0
        for _ in range(3000):
            with contextlib.suppress(asyncpg.UndefinedTableError):  # not created yet
                killed_at = (
                    await conn.fetchval(f"SELECT max(position) FROM {schema}.relay_positions") or 0
                )
            if killed_at > 0:
                break
            assert process.poll() is None, "the relay process died on its own"
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        await conn.close()
    assert 0 < killed_at < 300, "the kill should land mid-stream"
    await asyncio.to_thread(store_residents, app, 2, 4)

    async with make_relay(app, schema, topic) as restarted:
        assert restarted.position >= killed_at
        await restarted.drain()

    expected = published(app)
    records = await read_topic(BOOTSTRAP, topic, count=len(expected))
    ids = {decode(r.headers, r.value).id for r in records}
    assert ids == set(expected)
