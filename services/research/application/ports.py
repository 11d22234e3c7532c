"""What the export and the report need from the world, as protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..domain.history import HistoryCounts, HistoryRecord
from ..domain.read_model_base import Table


class Progress(Protocol):
    """A progress display for long steps (rich in the CLI; silent in tests)."""

    def start(self, task: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class History:
    """Every record of the topics up to their end offsets when the read started."""

    records: list[HistoryRecord]
    end_offsets: dict[str, dict[int, int]]
    counts: HistoryCounts = field(default_factory=HistoryCounts)


class HistorySource(Protocol):
    async def read(self, progress: Progress) -> History: ...


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: str
    sha256: str
    bytes: int


class ExportSink(Protocol):
    """Where an export's files go (a folder)."""

    def write_table(self, table: Table, *, csv: bool) -> list[WrittenFile]: ...

    def write_text(self, name: str, text: str) -> WrittenFile: ...

    def holds_export(self) -> bool:
        """Whether the destination already holds an export (never overwritten)."""
        ...

    def withdraw(self, name: str) -> None:
        """Remove one written file (the manifest of an export whose audit record failed)."""
        ...


@dataclass(frozen=True, slots=True)
class AuditRecord:
    export_id: str
    created_at: datetime
    os_user: str
    requested_by: str | None
    purpose: str
    until: datetime | None
    key_id: str
    out: str
    tables: list[dict[str, Any]]
    manifest_sha256: str


class AuditLog(Protocol):
    async def ready(self) -> None:
        """Raise if records cannot be appended (checked before an export starts)."""
        ...

    async def append(self, record: AuditRecord) -> None: ...

    async def records(self) -> list[AuditRecord]: ...


class ExportReader(Protocol):
    """An export read back (the report's only input)."""

    def manifest(self) -> Mapping[str, Any]: ...

    def table(self, name: str) -> Sequence[Mapping[str, Any]]: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
