"""The export use case on fakes: tables, dictionary, manifest and audit record."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kgo_contracts.examples import RESIDENT
from kgo_contracts.registry import ALL_EVENTS
from services.research.application.export import ExportRefused, ExportRequest, export_history
from services.research.application.ports import NoProgress
from services.research.testing import at, synthetic_story

from .conftest import FakeHistory, MemoryAudit, MemorySink

pytestmark = pytest.mark.unit
KEY = b"unit-test-key-0123456789"


async def export(records, clock, **request):
    sink, audit = MemorySink(), MemoryAudit()
    result = await export_history(
        ExportRequest(
            purpose=request.pop("purpose", "unit test"), out="/x", os_user="me", **request
        ),
        source=FakeHistory(records),
        sink=sink,
        audit=audit,
        key=KEY,
        contracts=ALL_EVENTS,
        clock=clock,
        progress=NoProgress(),
    )
    return result, sink, audit


async def test_no_raw_wallet_id_in_any_table_or_file(story_records, clock):
    _, sink, _ = await export(story_records, clock)
    raw = {str(w) for w in synthetic_story().residents} | {str(RESIDENT)}
    text = (repr([t.rows for t in sink.tables.values()]) + "".join(sink.texts.values())).lower()
    assert not [w for w in raw if w in text]


async def test_the_dictionary_describes_every_column_of_every_table(story_records, clock):
    _, sink, _ = await export(story_records, clock)
    rows = list(csv.DictReader(io.StringIO(sink.texts["dictionary.csv"])))
    described = {(r["table"], r["field"]) for r in rows if r["meaning"] and r["type"]}
    for name, table in sink.tables.items():
        assert {(name, c) for c in table.spec.column_names()} <= described
        for row in table.rows:
            assert set(row) <= set(table.spec.column_names()), name
    units = {(r["table"], r["field"]): r["unit"] for r in rows}
    assert units[("wallet.CoinsGranted.v1", "amount")] == "coins"
    assert units[("merchant.DiscountRedeemed.v1", "bill_satang")] == "satang"
    assert units[("wallet.CoinsGranted.v1", "occurred_at")] == "Asia/Bangkok time"
    assert "## Read models" in sink.texts["dictionary.md"]


async def test_manifest_and_audit_record_say_who_why_and_what(story_records, clock):
    result, sink, audit = await export(
        story_records, clock, requested_by="university", until=at(6, 30, 23, 59)
    )
    manifest = json.loads(sink.texts["manifest.json"])
    assert manifest["purpose"] == "unit test" and manifest["requested"]["os_user"] == "me"
    # One erased in the story, one in the contract examples.
    assert manifest["counts"]["erased_residents"] == 2 and manifest["counts"]["after_until"] > 0
    [record] = audit.appended
    assert record.export_id == manifest["export_id"] and record.requested_by == "university"
    assert record.key_id == manifest["pseudonym_key_id"] and KEY.decode() not in repr(record)
    assert {t["name"] for t in record.tables} == set(sink.tables)
    assert all(r["ce_time"] <= at(6, 30, 23, 59) for t in result.tables.events for r in t.rows)


async def test_an_export_needs_a_purpose(story_records, clock):
    with pytest.raises(ExportRefused) as refused:
        await export(story_records, clock, purpose="  ")
    assert refused.value.code == "purpose_required"


async def test_an_empty_history_exports_empty_tables(clock):
    result, sink, _ = await export([], clock)
    assert sink.tables and all(not t.rows for t in sink.tables.values() if t.spec.kind == "event")
    assert result.manifest["counts"]["exported_rows"] == 0


class BrokenAudit(MemoryAudit):
    async def append(self, record):
        raise OSError("audit database gone")


async def test_an_export_whose_audit_record_fails_is_withdrawn(story_records, clock):
    sink = MemorySink()
    with pytest.raises(OSError):
        await export_history(
            ExportRequest(purpose="p", out="/x", os_user="me"),
            source=FakeHistory(story_records),
            sink=sink,
            audit=BrokenAudit(),
            key=KEY,
            contracts=ALL_EVENTS,
            clock=clock,
            progress=NoProgress(),
        )
    assert "manifest.json" not in sink.texts


async def test_an_export_never_overwrites_another(story_records, clock):
    _, sink, _ = await export(story_records, clock)
    with pytest.raises(ExportRefused) as refused:
        await export_history(
            ExportRequest(purpose="p", out="/x", os_user="me"),
            source=FakeHistory(story_records),
            sink=sink,
            audit=MemoryAudit(),
            key=KEY,
            contracts=ALL_EVENTS,
            clock=clock,
            progress=NoProgress(),
        )
    assert refused.value.code == "export_exists"


async def test_no_raw_event_id_in_the_export(story_records, clock):
    _, sink, _ = await export(story_records, clock)
    text = repr([t.rows for t in sink.tables.values()])
    assert not [r.ce_id for r in story_records if r.ce_id in text]
