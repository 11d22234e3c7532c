"""In-memory fakes of the export's ports: a history made of contract examples and the
synthetic story, a sink keeping tables in memory, an audit log in a list."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from kgo_contracts.examples import example_ce_id, examples
from kgo_runtime.clock import ManualClock
from services.research.application.ports import AuditRecord, History, Progress, WrittenFile
from services.research.domain.history import HistoryRecord
from services.research.domain.read_model_base import Table
from services.research.testing import at, synthetic_story


def record(event: Any, offset: int) -> HistoryRecord:
    return HistoryRecord(
        type(event).topic,
        0,
        offset,
        example_ce_id(event),
        event.ce_type(),
        event.business_time(),
        event.model_dump(mode="python"),
    )


class FakeHistory:
    def __init__(self, records: list[HistoryRecord]) -> None:
        self.records = records

    async def read(self, progress: Progress) -> History:
        return History(list(self.records), {"t": {0: len(self.records)}})


class MemorySink:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.texts: dict[str, str] = {}

    def write_table(self, table: Table, *, csv: bool) -> list[WrittenFile]:
        self.tables[table.spec.name] = table
        return [
            WrittenFile(
                f"{table.spec.file}.parquet",
                hashlib.sha256(repr(table.rows).encode()).hexdigest(),
                0,
            )
        ]

    def holds_export(self) -> bool:
        return "manifest.json" in self.texts

    def withdraw(self, name: str) -> None:
        self.texts.pop(name, None)

    def write_text(self, name: str, text: str) -> WrittenFile:
        self.texts[name] = text
        return WrittenFile(name, hashlib.sha256(text.encode()).hexdigest(), len(text))

    # as an ExportReader, for the report
    def manifest(self) -> Mapping[str, Any]:
        import json

        return json.loads(self.texts.get("manifest.json", "{}"))

    def table(self, name: str) -> Sequence[Mapping[str, Any]]:
        return self.tables[name].rows if name in self.tables else []


class MemoryAudit:
    def __init__(self) -> None:
        self.appended: list[AuditRecord] = []

    async def ready(self) -> None:
        pass

    async def append(self, record: AuditRecord) -> None:
        self.appended.append(record)

    async def records(self) -> list[AuditRecord]:
        return list(self.appended)


@pytest.fixture
def story_records() -> list[HistoryRecord]:
    story = synthetic_story()
    events = [*examples(), *story.events]
    records = [record(e, i) for i, e in enumerate(events)]
    assert story.erased is not None
    records.append(
        HistoryRecord(
            "t",
            0,
            len(records),
            "erasure-1",
            "kgo.wallet.ResidentErased.v1",
            at(10, 1),
            {"account_id": str(story.erased)},
        )
    )
    return records


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(10, 2))
