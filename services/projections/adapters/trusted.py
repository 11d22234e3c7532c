"""A cheap decoder for records a consumer of this topic has already validated.

``kgo replay`` reads history the live consumer already judged: every record below its
stored position either passed the full contract validation
(:func:`kgo_runtime.envelope.decode`) or was dead-lettered. Those records, and only those
that no dead letter names, are decoded here without validating again: the two headers the
fold needs are read (``ce_id``, ``ce_type``), the JSON is parsed (orjson) straight into a
:class:`TrustedEvent` (the fields as attributes, ids as text), business times parsed.
Anything this decoder cannot build raises, and the caller validates the batch in full.
Every other record (beyond the live position, or dead-lettered once) goes through the full
validation, so a replay takes exactly the live consumer's decisions.

Measured on the bench's records: 3.6 µs a record against 10.5 µs for the previous trusted
decoder (a dict of every header, an envelope) and 14 µs for the full validation; then
(issue 13) the two headers read where the KGO encoder puts them, one class per contract
(no ``contract`` attribute set per record) and the business time checked without a call:
4.4-5.7 µs against 6.3-7.4 µs for the 3.6 µs version in the same process on the loaded
machine (10 alternating rounds, min and median).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from pydantic import BaseModel

from kgo_contracts.base import ContractEvent
from kgo_contracts.registry import contract_for

#: The contracts' time fields (BusinessTime).
TIME_FIELDS = ("occurred_at", "starts_at", "ends_at", "expires_at")


class TrustedEvent:
    """A contract event's fields as attributes, for a record already validated once (the
    fold reads attributes only). One subclass per contract carries ``contract``."""

    contract: type[ContractEvent]

    def business_time(self) -> datetime:
        at: datetime = self.__dict__[self.contract.time_field]
        return at


@dataclass(frozen=True, slots=True)
class _Shape:
    """What decoding one contract needs, looked up once per ``ce_type``."""

    #: A subclass of TrustedEvent whose ``contract`` is the contract.
    cls: type[TrustedEvent]
    #: The wire name without its version (``kgo.wallet.CoinsGranted``): the fold's key.
    name: str
    times: tuple[str, ...]
    nested: tuple[str, ...]
    #: The business time's field (parsed with ``times``).
    time_field: str


_SHAPES: dict[bytes, _Shape] = {}


def _shape(ce_type: bytes) -> _Shape:
    contract = contract_for(ce_type.decode())
    fields = contract.model_fields
    nested = tuple(
        n for n, f in fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    )  # fmt: skip
    times = tuple(n for n in TIME_FIELDS if n in fields)
    if contract.time_field not in times:
        raise ValueError(f"{contract.wire_name}: business time {contract.time_field} not parsed")
    cls = type(f"Trusted{contract.__name__}", (TrustedEvent,), {"contract": contract})
    shape = _Shape(cls, contract.wire_name, times, nested, contract.time_field)
    _SHAPES[ce_type] = shape
    return shape


def _ids(headers: Sequence[tuple[str, bytes | None]]) -> tuple[bytes | None, bytes | None]:
    """``ce_id`` and ``ce_type``: where the KGO encoder puts them (second and fourth), else
    wherever they are."""
    if len(headers) > 3 and headers[1][0] == "ce_id" and headers[3][0] == "ce_type":
        return headers[1][1], headers[3][1]
    ce_id = ce_type = None
    for name, value in headers:
        if name == "ce_id":
            ce_id = value
        elif name == "ce_type":
            ce_type = value
    return ce_id, ce_type


_NAMES: dict[bytes, str] = {}


def read_ids(record: ConsumerRecord[bytes, bytes]) -> tuple[str, str]:
    """``(ce_id, wire name)`` of a record validated once already, its value left undecoded
    (for :mod:`services.projections.adapters.sql_fold`); an unknown ``ce_type`` raises."""
    headers = record.headers
    if len(headers) > 3 and headers[1][0] == "ce_id" and headers[3][0] == "ce_type":
        ce_id, ce_type = headers[1][1], headers[3][1]
    else:
        ce_id, ce_type = _ids(headers)
    name = _NAMES.get(ce_type)
    if name is None:
        if ce_type is None:
            raise ValueError("not a KGO CloudEvent")
        name = _NAMES[ce_type] = contract_for(ce_type.decode()).wire_name
    if ce_id is None or record.value is None:
        raise ValueError("not a KGO CloudEvent")
    return ce_id.decode(), name


def read_trusted(record: ConsumerRecord[bytes, bytes]) -> tuple[str, str, TrustedEvent]:
    """``(ce_id, wire name, event)`` of a record validated once already."""
    ce_id, ce_type = _ids(record.headers)
    if ce_id is None or ce_type is None or record.value is None:
        raise ValueError("not a KGO CloudEvent")
    shape = _SHAPES.get(ce_type) or _shape(ce_type)
    data: dict[str, Any] = orjson.loads(record.value)
    for field in shape.times:
        value = data.get(field)
        if value is not None:
            data[field] = datetime.fromisoformat(value)
    for field in shape.nested:
        if isinstance(data.get(field), dict):
            data[field] = SimpleNamespace(**data[field])
    if data[shape.time_field].tzinfo is None:
        raise ValueError("no business time offset")
    event = shape.cls.__new__(shape.cls)
    event.__dict__ = data
    return ce_id.decode(), shape.name, event
