"""The relay's reading side on in-memory persistence: what it publishes for each stored event,
what it passes over, and how it treats gaps in the notification log."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, StoredEvent

from kgo_runtime.envelope import decode
from kgo_runtime.metrics import Metrics
from kgo_runtime.relay import Relay, stored_event_id
from kgo_runtime.testing import BANGKOK, Resident, store_residents
from kgo_runtime.testing import resident_to_contract as to_contract

pytestmark = pytest.mark.unit


def relay_for(app: Application[uuid.UUID], **options: Any) -> Relay:
    return Relay(
        app,
        to_contract,
        name="test",
        source="/kgo/missions",
        kafka_bootstrap="127.0.0.1:1",
        db="postgresql://nobody@127.0.0.1:1/none",
        metrics=Metrics("test"),
        **options,
    )


def test_a_batch_publishes_contract_events_and_passes_internal_ones() -> None:
    app: Application[uuid.UUID] = Application()
    store_residents(app, residents=2, completions=3, first_reward=10)
    relay = relay_for(app, batch_size=100)

    last_id, records, internal = relay._read_batch(0)

    assert last_id == 8
    assert internal == 2  # the two Registered events
    assert len(records) == 6
    notifications = app.recorder.select_notifications(1, 100)
    expected_ids = [
        stored_event_id(app.mapper.to_domain_event(n))
        for n in notifications
        if n.topic.endswith("MissionCompleted")
    ]
    envelopes = [decode(r.headers, r.value) for r in records]
    assert [e.id for e in envelopes] == expected_ids
    assert all(e.source == "/kgo/missions" for e in envelopes)
    assert all(r.key == e.subject.encode() for r, e in zip(records, envelopes, strict=True))


def test_batches_follow_the_position_and_the_batch_size() -> None:
    app: Application[uuid.UUID] = Application()
    store_residents(app, residents=3, completions=4, first_reward=10)  # 15 notifications
    relay = relay_for(app, batch_size=4)

    seen: list[str] = []
    position = 0
    while True:
        last_id, records, _ = relay._read_batch(position)
        if last_id is None:
            break
        assert last_id - position <= 4
        seen += [decode(r.headers, r.value).id for r in records]
        position = last_id

    assert position == 15
    assert len(seen) == len(set(seen)) == 12


def test_reading_again_from_the_same_position_gives_the_same_ids() -> None:
    app: Application[uuid.UUID] = Application()
    store_residents(app, residents=1, completions=5, first_reward=10)
    relay = relay_for(app)

    first = [decode(r.headers, r.value).id for r in relay._read_batch(0)[1]]
    again = [decode(r.headers, r.value).id for r in relay._read_batch(0)[1]]

    assert first == again


def test_a_forked_history_gets_new_ids_where_it_differs() -> None:
    """A restore that lost v3, already published: the new v3 is another event, another id;
    the restored v1 and v2 keep theirs (subscribers still drop them as repeats)."""
    original: Application[uuid.UUID] = Application()
    resident = Resident()
    resident.complete(uuid.uuid4(), 10, datetime(2022, 6, 9, 8, 0, tzinfo=BANGKOK))
    resident.complete(uuid.uuid4(), 20, datetime(2022, 6, 9, 8, 1, tzinfo=BANGKOK))
    original.save(resident)
    stored = original.recorder.select_notifications(1, 10)
    restored: Application[uuid.UUID] = Application()
    restored.recorder.insert_events(
        [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in stored[:2]]
    )
    again = restored.repository.get(resident.id)
    again.complete(uuid.uuid4(), 30, datetime(2022, 6, 9, 9, 0, tzinfo=BANGKOK))
    restored.save(again)

    before = [decode(r.headers, r.value).id for r in relay_for(original)._read_batch(0)[1]]
    after = [decode(r.headers, r.value).id for r in relay_for(restored)._read_batch(0)[1]]

    assert len(before) == len(after) == 2  # v2 and v3 are completions
    assert after[0] == before[0]
    assert after[1] != before[1]


def notifications(*ids: int) -> list[Notification]:
    blank = Notification(
        id=0, originator_id=uuid.uuid4(), originator_version=1, topic="t", state=b""
    )
    return [replace(blank, id=i) for i in ids]


def test_without_gap_grace_a_gap_is_passed_at_once() -> None:
    relay = relay_for(Application(), gap_grace=0)
    assert [n.id for n in relay._admit(0, notifications(1, 2, 4, 5))] == [1, 2, 4, 5]


def test_a_young_gap_holds_back_what_follows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("kgo_runtime.relay.time.monotonic", lambda: clock[0])
    relay = relay_for(Application(), gap_grace=1.0)

    assert [n.id for n in relay._admit(0, notifications(1, 2, 4, 5))] == [1, 2]
    clock[0] += 0.5
    assert [n.id for n in relay._admit(2, notifications(4, 5))] == []
    clock[0] += 0.6  # the missing id never came: a rolled-back insert
    assert [n.id for n in relay._admit(2, notifications(4, 5))] == [4, 5]


def test_a_gap_that_fills_in_is_relayed_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kgo_runtime.relay.time.monotonic", lambda: 5.0)
    relay = relay_for(Application(), gap_grace=1.0)

    assert [n.id for n in relay._admit(0, notifications(1, 3))] == [1]
    assert [n.id for n in relay._admit(1, notifications(2, 3))] == [2, 3]


def test_gap_grace_defaults_to_zero_for_in_memory_and_locked_inserts() -> None:
    assert relay_for(Application())._gap_grace == 0


def test_internal_topics_are_passed_without_decoding_and_the_records_are_the_same() -> None:
    app: Application[uuid.UUID] = Application()
    store_residents(app, residents=2, completions=3, first_reward=10)
    decoded: list[str] = []

    def internal(topic: str) -> bool:
        return topic.endswith("Registered")

    def counting(event: Any) -> Any:
        decoded.append(type(event).__name__)
        return to_contract(event)

    plain = relay_for(app, batch_size=100)._read_batch(0)
    skipping = Relay(
        app, counting, name="test", source="/kgo/missions", kafka_bootstrap="127.0.0.1:1",
        db="postgresql://nobody@127.0.0.1:1/none", metrics=Metrics("test"), batch_size=100,
        internal_topic=internal,
    )._read_batch(0)  # fmt: skip

    assert skipping == plain  # same last id, same records, the same two internal ones
    assert "Registered" not in decoded and len(decoded) == 6
