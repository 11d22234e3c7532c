"""The data dictionary as files: ``dictionary.csv`` (one row per column of every table) and
``dictionary.md`` (the same, readable, with each table's description)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from .dictionary import TableSpec

CSV_HEADER = ("table", "kind", "file", "field", "type", "unit", "meaning", "pseudonymised")


def dictionary_csv(specs: Sequence[TableSpec]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for spec in specs:
        for c in spec.columns:
            writer.writerow(
                (
                    spec.name,
                    spec.kind,
                    spec.file + ".parquet",
                    c.name,
                    c.type,
                    c.unit,
                    c.meaning,
                    "yes" if c.pseudonymised else "no",
                )
            )
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def dictionary_md(specs: Sequence[TableSpec], preamble: str) -> str:
    lines = ["# Data dictionary of this export", "", preamble, ""]
    for kind, title in (("event", "Event tables"), ("read_model", "Read models")):
        lines += [f"## {title}", ""]
        for spec in (s for s in specs if s.kind == kind):
            lines += [f"### `{spec.name}` (`{spec.file}.parquet`)", "", _cell(spec.description), ""]
            lines += ["| field | type | unit | meaning |", "|---|---|---|---|"]
            lines += [
                f"| `{c.name}` | {c.type} | {c.unit} | {_cell(c.meaning)} |" for c in spec.columns
            ]
            lines.append("")
    return "\n".join(lines)
