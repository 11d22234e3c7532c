"""An export on disk: one Parquet file per table (and CSV on request), the dictionary and the
manifest; and the same folder read back (the report's input)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..application.ports import WrittenFile
from ..domain.dictionary import ColumnType, TableSpec
from ..domain.read_model_base import Table

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "json": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="Asia/Bangkok"),
    "date": pa.date32(),
}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                c.name,
                ARROW_TYPES[c.type],
                nullable=True,
                metadata={"unit": c.unit, "meaning": c.meaning},
            )
            for c in spec.columns
        ],
        metadata={"table": spec.name, "description": spec.description},
    )


def arrow_table(table: Table) -> pa.Table:
    schema = arrow_schema(table.spec)
    columns = {c.name: [row.get(c.name) for row in table.rows] for c in table.spec.columns}
    return pa.Table.from_pydict(columns, schema=schema)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ExportFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _written(self, path: Path) -> WrittenFile:
        return WrittenFile(str(path.relative_to(self.root)), _sha256(path), path.stat().st_size)

    def write_table(self, table: Table, *, csv: bool) -> list[WrittenFile]:
        data = arrow_table(table)
        path = self.root / f"{table.spec.file}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, path)
        written = [self._written(path)]
        if csv:
            csv_path = path.with_suffix(".csv")
            pa_csv.write_csv(data, csv_path)
            written.append(self._written(csv_path))
        return written

    def holds_export(self) -> bool:
        return (self.root / "manifest.json").exists()

    def withdraw(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def write_text(self, name: str, text: str) -> WrittenFile:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return self._written(path)


class ExportFiles:
    """An export folder read back: its manifest and its tables as rows."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._manifest: dict[str, Any] = json.loads((root / "manifest.json").read_text())
        self._files = {
            t["name"]: next(f["path"] for f in t["files"] if f["path"].endswith(".parquet"))
            for t in self._manifest["tables"]
        }

    def manifest(self) -> Mapping[str, Any]:
        return self._manifest

    def arrow(self, name: str) -> pa.Table:
        return pq.read_table(self.root / self._files[name])

    def table(self, name: str) -> Sequence[Mapping[str, Any]]:
        if name not in self._files:
            return []
        rows: list[dict[str, Any]] = self.arrow(name).to_pylist()
        return rows
