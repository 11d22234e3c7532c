"""What every read model shares: its column helpers and the input it is computed from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .dictionary import Column, ColumnType, TableSpec, unit_of
from .pseudonyms import PSEUDONYM_NOTE_SHORT

#: Rows of each event table, by ce_type, already pseudonymised and without erased residents.
EventRows = Mapping[str, Sequence[Mapping[str, Any]]]


def col(name: str, column_type: ColumnType, meaning: str, *, pseudonymised: bool = False) -> Column:
    if pseudonymised:
        meaning += PSEUDONYM_NOTE_SHORT
    return Column(name, column_type, unit_of(name, column_type), meaning, pseudonymised)


def group_columns(k: int) -> tuple[Column, ...]:
    return (
        col(
            "residents",
            "int64",
            f"Distinct residents in the group (at least {k}; null when suppressed).",
        ),
        col(
            "coarsened",
            "bool",
            f"True for the 'other' row: groups of fewer than {k} residents merged.",
        ),
        col(
            "suppressed",
            "bool",
            f"True when even the merged group had fewer than {k} residents: its figures are null.",
        ),
    )


@dataclass(frozen=True, slots=True)
class Table:
    spec: TableSpec
    rows: list[dict[str, Any]]


def read_model(
    name: str, description: str, columns: Sequence[Column], rows: list[dict[str, Any]]
) -> Table:
    spec = TableSpec(name=name, kind="read_model", description=description, columns=tuple(columns))
    return Table(spec, rows)


def rows_of(events: EventRows, *ce_types: str) -> list[Mapping[str, Any]]:
    return [row for ce_type in ce_types for row in events.get(ce_type, ())]


def wallet(name: str) -> str:
    return f"kgo.wallet.{name}.v1"
