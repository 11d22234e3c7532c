"""The report on small and empty exports: every figure drawn, 'no data' instead of a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgo_contracts.registry import ALL_EVENTS
from services.research.adapters.report_files import ReportFiles
from services.research.application.export import ExportRequest, export_history
from services.research.application.ports import NoProgress
from services.research.application.report import build_report
from services.research.domain.report_data import NO_DATA

from .conftest import FakeHistory, MemoryAudit, MemorySink

pytestmark = pytest.mark.unit


async def exported(records, clock) -> MemorySink:
    sink = MemorySink()
    await export_history(
        ExportRequest(purpose="report", out="/x", os_user="me"),
        source=FakeHistory(records),
        sink=sink,
        audit=MemoryAudit(),
        key=b"unit-test-key-0123456789",
        contracts=ALL_EVENTS,
        clock=clock,
        progress=NoProgress(),
    )
    return sink


async def test_an_empty_export_gives_a_report_saying_no_data(clock, tmp_path: Path):
    report = build_report(await exported([], clock), ReportFiles(tmp_path), NoProgress())
    assert report.figures and all(f.empty and f.caption == NO_DATA for f in report.figures)
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "No data" in (tmp_path / "report.html").read_text()
    assert len(list((tmp_path / "figures").glob("*.png"))) == len(report.figures)


async def test_a_small_history_fills_every_figure(story_records, clock, tmp_path: Path):
    sink = await exported(story_records, clock)
    report = build_report(sink, ReportFiles(tmp_path), NoProgress())
    assert [f.id for f in report.figures if f.empty] == []
    weekly = next(f for f in report.figures if f.id == "weekly_coins")
    assert sum(v or 0 for v in weekly.series["granted"]) > 0
