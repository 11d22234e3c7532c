"""Export the whole history: read every topic, build the tables, write them with their
dictionary and manifest, and record who asked and why in the audit log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kgo_contracts.base import ContractEvent

from ..domain.coarsening import DEFAULT_K
from ..domain.dictionary import missing_meanings
from ..domain.dictionary_render import dictionary_csv, dictionary_md
from ..domain.history import Tables, build_tables
from ..domain.pseudonyms import key_id
from .ports import AuditLog, AuditRecord, Clock, ExportSink, HistorySource, Progress, WrittenFile

MANIFEST = "manifest.json"


class ExportRefused(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class ExportRequest:
    purpose: str
    out: str
    os_user: str
    requested_by: str | None = None
    until: datetime | None = None
    csv: bool = False
    k: int = DEFAULT_K


@dataclass(frozen=True, slots=True)
class ExportResult:
    manifest: dict[str, Any]
    tables: Tables


def _preamble(request: ExportRequest, kid: str) -> str:
    until = request.until.isoformat() if request.until else "the end of every topic"
    return (
        f"Purpose: {request.purpose}. Until: {until}. "
        f"Residents are pseudonymised with key {kid} (HMAC-SHA256); public accounts (issuer, "
        "municipality, budgets, shops, bus operator) keep their ids. Coins are whole coins, "
        "baht in satang (1 baht = 100 satang), times in Asia/Bangkok. In read models, groups of "
        f"fewer than {request.k} distinct residents are merged into 'other' or suppressed "
        "(see each table). Erased residents are absent."
    )


async def export_history(
    request: ExportRequest,
    *,
    source: HistorySource,
    sink: ExportSink,
    audit: AuditLog,
    key: bytes,
    contracts: Sequence[type[ContractEvent]],
    clock: Clock,
    progress: Progress,
) -> ExportResult:
    if not request.purpose.strip():
        raise ExportRefused("purpose_required", "an export needs a purpose")
    if sink.holds_export():
        raise ExportRefused("export_exists", f"{request.out} already holds an export")
    await audit.ready()  # no export without its audit record: fail before reading anything
    history = await source.read(progress)
    progress.start("Building tables")
    tables = build_tables(
        history.records,
        contracts,
        key=key,
        until=request.until,
        k=request.k,
        counts=history.counts,
    )
    progress.finish()
    missing = missing_meanings(tables.specs())
    if missing:
        raise ExportRefused("dictionary_incomplete", f"no meaning for {', '.join(missing)}")
    progress.start("Writing tables", total=len(tables.all()))
    written: list[dict[str, Any]] = []
    for table in tables.all():
        files = sink.write_table(table, csv=request.csv)
        written.append(
            {
                "name": table.spec.name,
                "kind": table.spec.kind,
                "rows": len(table.rows),
                "files": [_file(f) for f in files],
            }
        )
        progress.advance()
    progress.finish()
    kid = key_id(key)
    specs = tables.specs()
    dictionaries = [
        sink.write_text("dictionary.csv", dictionary_csv(specs)),
        sink.write_text("dictionary.md", dictionary_md(specs, _preamble(request, kid))),
    ]
    export_id, created_at = str(uuid.uuid4()), clock.now()
    manifest = {
        "export_id": export_id,
        "created_at": created_at.isoformat(),
        "requested": {"os_user": request.os_user, "requested_by": request.requested_by},
        "purpose": request.purpose,
        "until": request.until.isoformat() if request.until else None,
        "pseudonym_key_id": kid,
        "suppression_threshold": request.k,
        "topics": {
            t: {str(p): o for p, o in parts.items()} for t, parts in history.end_offsets.items()
        },
        "counts": tables.counts.as_dict(),
        "tables": written,
        "dictionary": [_file(f) for f in dictionaries],
    }
    manifest_file = sink.write_text(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    record = AuditRecord(
        export_id=export_id,
        created_at=created_at,
        os_user=request.os_user,
        requested_by=request.requested_by,
        purpose=request.purpose,
        until=request.until,
        key_id=kid,
        out=request.out,
        tables=[{"name": t["name"], "rows": t["rows"], "files": t["files"]} for t in written],
        manifest_sha256=manifest_file.sha256,
    )
    try:
        await audit.append(record)
    except Exception:
        sink.withdraw(MANIFEST)  # an export without its audit record is not an export
        raise
    return ExportResult(manifest, tables)


def _file(f: WrittenFile) -> dict[str, Any]:
    return {"path": f.path, "sha256": f.sha256, "bytes": f.bytes}
