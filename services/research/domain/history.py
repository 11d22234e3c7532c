"""From the records of the topics to the export's tables: dedupe, cut at --until, erase,
pseudonymise, then the read models."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from kgo_contracts.base import BANGKOK, ContractEvent

from .dictionary import TableSpec, event_table
from .pseudonyms import ERASURE_TYPE, Pseudonymiser, public_ids, resident_ids
from .read_model_base import Table
from .read_models import all_read_models


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One decoded record of a topic (``payload``: the contract's fields, Python values)."""

    topic: str
    partition: int
    offset: int
    ce_id: str
    ce_type: str
    ce_time: datetime
    payload: dict[str, Any]


@dataclass
class HistoryCounts:
    records: int = 0
    duplicates: int = 0
    after_until: int = 0
    erasure_records: int = 0
    erased_residents: int = 0
    erased_rows: int = 0
    exported_rows: int = 0
    undecodable: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "duplicates": self.duplicates,
            "after_until": self.after_until,
            "erasure_records": self.erasure_records,
            "erased_residents": self.erased_residents,
            "erased_rows": self.erased_rows,
            "exported_rows": self.exported_rows,
            "undecodable": dict(self.undecodable),
        }


@dataclass(frozen=True, slots=True)
class Tables:
    events: list[Table]
    read_models: list[Table]
    counts: HistoryCounts

    def all(self) -> list[Table]:
        return [*self.events, *self.read_models]

    def specs(self) -> list[TableSpec]:
        return [t.spec for t in self.all()]


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(BANGKOK)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    return value


def build_tables(
    records: Iterable[HistoryRecord],
    contracts: Sequence[type[ContractEvent]],
    *,
    key: bytes,
    until: datetime | None,
    k: int,
    counts: HistoryCounts | None = None,
) -> Tables:
    counts = counts or HistoryCounts()
    seen: set[str] = set()
    unique: list[HistoryRecord] = []
    for record in records:
        counts.records += 1
        if record.ce_id in seen:
            counts.duplicates += 1
            continue
        seen.add(record.ce_id)
        unique.append(record)
    erased = {
        str(r.payload.get("account_id", "")).lower() for r in unique if r.ce_type == ERASURE_TYPE
    } - {""}
    counts.erasure_records = sum(1 for r in unique if r.ce_type == ERASURE_TYPE)
    counts.erased_residents = len(erased)
    payloads = [{n: _plain(v) for n, v in r.payload.items()} for r in unique]
    residents = resident_ids(payloads) | erased
    pseudonymiser = Pseudonymiser(key, residents, erased, public_ids(payloads) - residents)
    pseudonymiser.learn_erased_tokens(payloads)
    # The erasure records themselves are not exported (the manifest counts them).
    contracts = [c for c in contracts if c.ce_type() != ERASURE_TYPE]
    by_type: dict[str, list[dict[str, Any]]] = {c.ce_type(): [] for c in contracts}
    for record, payload in zip(unique, payloads, strict=True):
        if record.ce_type not in by_type:
            continue
        if until is not None and record.ce_time > until:
            counts.after_until += 1
            continue
        if pseudonymiser.is_erased_subject(payload):
            counts.erased_rows += 1
            continue
        row = {
            "ce_id": pseudonymiser.event_id(record.ce_id),
            "ce_time": record.ce_time.astimezone(BANGKOK),
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            **pseudonymiser.scrub(payload),
        }
        by_type[record.ce_type].append(row)
    events = []
    for contract in contracts:
        spec = event_table(contract)
        names = spec.column_names()
        rows = [{n: row.get(n) for n in names} for row in by_type[contract.ce_type()]]
        counts.exported_rows += len(rows)
        events.append(Table(spec, rows))
    return Tables(events, all_read_models(by_type, k), counts)
