"""Wires exports and reports: Kafka history, export folder, audit log, clock, contracts.

Not a running service: ``kgo export`` and ``kgo report`` call these once and exit.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path

from kgo_contracts.registry import ALL_EVENTS
from kgo_runtime.clock import Clock, SystemClock

from .adapters.audit_store import PostgresAuditLog
from .adapters.export_folder import ExportFiles, ExportFolder
from .adapters.kafka_history import KafkaHistory
from .adapters.report_files import ReportFiles
from .application.export import ExportRequest, ExportResult, export_history
from .application.ports import NoProgress, Progress
from .application.report import Report, build_report
from .settings import ResearchSettings


def audit_log(settings: ResearchSettings) -> PostgresAuditLog:
    return PostgresAuditLog(settings.database_url, settings.audit_schema)


async def run_export(
    *,
    purpose: str,
    out: Path,
    until: datetime | None = None,
    requested_by: str | None = None,
    csv: bool = False,
    settings: ResearchSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    settings = settings or ResearchSettings()
    request = ExportRequest(
        purpose=purpose,
        out=str(out.resolve()),
        os_user=getpass.getuser(),
        requested_by=requested_by,
        until=until,
        csv=csv,
        k=settings.suppression_threshold,
    )
    return await export_history(
        request,
        source=KafkaHistory(settings.kafka_bootstrap, settings.topics),
        sink=ExportFolder(out),
        audit=audit_log(settings),
        key=settings.key_bytes(),
        contracts=ALL_EVENTS,
        clock=clock or SystemClock(),
        progress=progress or NoProgress(),
    )


def build_report_files(export_dir: Path, out: Path, progress: Progress | None = None) -> Report:
    """The report of the export in ``export_dir``, written to ``out``."""
    return build_report(ExportFiles(export_dir), ReportFiles(out), progress or NoProgress())
