"""The trusted decoder (records the live consumer validated once): the same fields, name and
id as the full validation, whatever the headers' order; what it cannot read raises (the
caller then validates the batch in full)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import ConsumerRecord

from kgo_contracts.examples import wallet_story
from kgo_runtime.envelope import decode, encode
from services.projections.adapters.trusted import read_trusted

pytestmark = pytest.mark.unit


def _record(headers: list[tuple[str, bytes]], value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("t", 0, 0, 0, 0, b"k", value, None, 1, len(value), tuple(headers))


def test_the_same_event_as_the_full_validation_in_any_header_order() -> None:
    for event in wallet_story():
        out = encode(event, ce_id=str(uuid.uuid4()), source="/kgo/wallet")
        envelope = decode(out.headers, out.value)
        for headers in (out.headers, list(reversed(out.headers))):
            ce_id, name, trusted = read_trusted(_record(headers, out.value))
            assert (ce_id, name) == (envelope.id, envelope.type.rsplit(".", 1)[0])
            assert trusted.business_time() == envelope.event.business_time()
            assert trusted.contract is type(envelope.event)
            for field, value in envelope.event:
                assert str(getattr(trusted, field)) == str(value) or value is None, field


def test_a_record_it_cannot_read_raises() -> None:
    out = encode(wallet_story()[0], ce_id=str(uuid.uuid4()), source="/kgo/wallet")
    without_id = [(n, v) for n, v in out.headers if n != "ce_id"]
    with pytest.raises(ValueError):
        read_trusted(_record(without_id, out.value))
    with pytest.raises(ValueError):
        read_trusted(_record(out.headers, out.value.replace(b"+07:00", b"")))
