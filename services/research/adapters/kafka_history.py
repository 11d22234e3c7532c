"""The history as it is on Kafka: every partition of every topic, from the earliest offset up
to the end offsets taken when the read starts.

An assigned consumer with no group: it commits nothing, so an export never moves anyone's
position, and records published while it runs are left for the next export.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from kgo_runtime.envelope import EnvelopeError, decode, header_map
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.kafka_security import kafka_client_options

from ..application.ports import History, Progress
from ..domain.history import HistoryRecord
from ..domain.pseudonyms import ERASURE_TYPE


def _erasure(headers: dict[str, str], value: bytes | None) -> dict[str, object]:
    """A ResidentErased record has no contract yet: its account id is all the export needs."""
    payload = json.loads(value or b"{}")
    if not isinstance(payload, dict) or not payload.get("account_id"):
        raise EnvelopeError("contract_violation", "ResidentErased without account_id")
    return payload


class KafkaHistory:
    def __init__(self, bootstrap: str, topics: Sequence[str], *, batch: int = 5_000) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.batch = batch

    async def _partitions(self) -> list[TopicPartition]:
        found: list[TopicPartition] = []
        for topic in self.topics:
            try:
                found += await topic_partitions(self.bootstrap, topic)
            except LookupError:
                continue  # a topic nobody has published to yet: nothing to export
        return found

    async def read(self, progress: Progress) -> History:
        partitions = await self._partitions()
        history = History(records=[], end_offsets={t: {} for t in self.topics})
        if not partitions:
            return history
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            max_poll_records=self.batch,
            **kafka_client_options(),
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            begin = await consumer.beginning_offsets(partitions)
            end = await consumer.end_offsets(partitions)
            for tp in partitions:
                history.end_offsets[tp.topic][tp.partition] = end[tp]
            progress.start("Reading Kafka", total=sum(end[tp] - begin[tp] for tp in partitions))
            pending = {tp for tp in partitions if end[tp] > begin[tp]}
            for tp in partitions:
                consumer.seek(tp, begin[tp])
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=1_000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= end[tp]:
                            continue
                        self._take(history, tp, record)
                        progress.advance()
                for tp in list(pending):
                    if await consumer.position(tp) >= end[tp]:
                        pending.discard(tp)
            progress.finish()
        finally:
            await consumer.stop()
        return history

    def _take(self, history: History, tp: TopicPartition, record: object) -> None:
        raw_headers = list(getattr(record, "headers", ()) or ())
        value: bytes | None = getattr(record, "value", None)
        offset: int = getattr(record, "offset")  # noqa: B009
        key: bytes | None = getattr(record, "key", None)
        try:
            headers = header_map(raw_headers)
            if headers.get("ce_type") == ERASURE_TYPE:
                payload = _erasure(headers, value)
                if key != str(payload["account_id"]).encode():
                    raise EnvelopeError("wrong_key", "the record's key is not its account_id")
                history.records.append(
                    HistoryRecord(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=offset,
                        ce_id=headers.get("ce_id") or f"{tp.topic}:{tp.partition}:{offset}",
                        ce_type=ERASURE_TYPE,
                        ce_time=datetime.fromisoformat(headers["ce_time"]),
                        payload=payload,
                    )
                )
                return
            # With the key, as every consumer decodes: a record filed under another key
            # (another wallet's partition and history) is rejected, not exported.
            envelope = decode(raw_headers, value, key)
        except (EnvelopeError, ValueError, KeyError) as error:
            reason = error.reason_code if isinstance(error, EnvelopeError) else "bad_header"
            history.counts.undecodable[reason] += 1
            return
        history.records.append(
            HistoryRecord(
                topic=tp.topic,
                partition=tp.partition,
                offset=offset,
                ce_id=envelope.id,
                ce_type=envelope.type,
                ce_time=envelope.time,
                payload=envelope.event.model_dump(mode="python"),
            )
        )
