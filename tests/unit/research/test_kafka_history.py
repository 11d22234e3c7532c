"""The history reader judges each record as the consumers do: decoded with its Kafka key, a
record filed under a key that is not its event's is rejected (counted by reason in the
manifest's ``counts.undecodable``), never exported."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

import pytest
from aiokafka import TopicPartition

from kgo_contracts.examples import example_ce_id, examples
from kgo_contracts.wallet import CoinsGranted
from kgo_runtime.envelope import encode
from services.research.adapters.kafka_history import KafkaHistory
from services.research.application.ports import History
from services.research.testing import at, erasure_record

pytestmark = pytest.mark.unit

TP = TopicPartition("kgo.wallet.events", 0)


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def granted() -> CoinsGranted:
    return next(e for e in examples() if isinstance(e, CoinsGranted))


def take(*records: Record) -> History:
    history = History(records=[], end_offsets={})
    reader = KafkaHistory("unused:9092", [TP.topic])
    for r in records:
        reader._take(history, TP, r)
    return history


def test_a_record_under_its_own_key_is_exported_one_under_another_key_is_rejected():
    event = granted()
    out = encode(event, ce_id=example_ce_id(event), source=event.ce_source())
    history = take(
        Record(0, out.key, out.value, out.headers),
        Record(1, str(uuid4()).encode(), out.value, out.headers),
        Record(2, None, out.value, out.headers),
    )
    assert [r.offset for r in history.records] == [0]
    assert history.counts.undecodable == {"wrong_key": 2}
    assert history.counts.as_dict()["undecodable"] == {"wrong_key": 2}


def test_an_erasure_is_judged_by_its_key_too():
    account = uuid4()
    headers, value = erasure_record(account, at(10, 1))
    raw = [(k, v.encode()) for k, v in headers.items()]
    history = take(Record(0, str(account).encode(), value, raw), Record(1, b"x", value, raw))
    assert [r.offset for r in history.records] == [0]
    assert history.counts.undecodable == {"wrong_key": 1}
