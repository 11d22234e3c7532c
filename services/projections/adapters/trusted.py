"""A cheap decoder for records a consumer of this topic has already validated.

``kgo replay`` reads history the live consumer already judged: every record below its
stored position either passed the full contract validation
(:func:`kgo_runtime.envelope.decode`) or was dead-lettered. Those records, and only those
that no dead letter names, are decoded here without validating again: the JSON is parsed
(orjson) into a :class:`TrustedEvent` (the fields as attributes), business times parsed.
Anything this decoder cannot build raises, and the caller falls back to the full decode.
Every other record (beyond the live position, or dead-lettered once) goes through the full
validation, so a replay takes exactly the live consumer's decisions.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from pydantic import BaseModel

from kgo_contracts.base import ContractEvent
from kgo_contracts.registry import contract_for
from kgo_runtime.envelope import Envelope

#: The contracts' time fields (BusinessTime).
TIME_FIELDS = ("occurred_at", "starts_at", "ends_at", "expires_at")


class TrustedEvent:
    """A contract event's fields as attributes, for a record already validated once (the
    fold reads attributes only); ``contract`` is the class it was validated as."""

    def __init__(self, contract: type[ContractEvent], data: dict[str, Any]) -> None:
        self.__dict__.update(data)
        self.contract = contract
        self.wire_name = contract.wire_name

    def business_time(self) -> datetime:
        at: datetime = self.__dict__[self.contract.time_field]
        return at

    def key(self) -> str:
        return str(self.__dict__[self.contract.key_field])


def _nested(contract: type[ContractEvent]) -> list[str]:
    fields = contract.model_fields.items()
    return [
        n
        for n, f in fields
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    ]


_NESTED: dict[type[ContractEvent], list[str]] = {}


def trusted_decode(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    headers = {name: value.decode() for name, value in record.headers if value is not None}
    ce_type = headers["ce_type"]
    contract = contract_for(ce_type)
    assert record.value is not None
    data: dict[str, Any] = orjson.loads(record.value)
    for name in TIME_FIELDS:
        value = data.get(name)
        if value is not None:
            data[name] = datetime.fromisoformat(value)
    nested = _NESTED.get(contract)
    if nested is None:
        nested = _NESTED[contract] = _nested(contract)
    for name in nested:
        if isinstance(data.get(name), dict):
            data[name] = SimpleNamespace(**data[name])
    event = TrustedEvent(contract, data)
    at = event.business_time()
    if at.tzinfo is None:
        raise ValueError("no business time offset")
    return Envelope(
        id=headers["ce_id"], source=headers["ce_source"], type=ce_type, time=at,
        subject=headers.get("ce_subject") or event.key(),
        event=event,  # type: ignore[arg-type]
    )  # fmt: skip
