"""Hostile records never get past ``decode`` and never make it raise anything but an
EnvelopeError with a known reason: each is dead-lettered with it, none can stall a consumer."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgo_contracts.examples import examples
from kgo_contracts.topics import EVENT_TOPICS
from kgo_runtime.envelope import EnvelopeError, OutgoingRecord, decode, encode
from kgo_runtime.testing import hostile_records

pytestmark = pytest.mark.unit

REASONS = {
    "bad_specversion", "missing_header", "bad_header", "bad_content_type", "unknown_type",
    "invalid_json", "too_large", "null_character", "contract_violation", "wrong_key",
}  # fmt: skip


def valid_record(topic: str) -> OutgoingRecord:
    event = next(e for e in examples() if type(e).topic == topic)
    return encode(event, ce_id=str(uuid.uuid4()), source="/kgo/test")


@pytest.mark.parametrize("topic", EVENT_TOPICS)
def test_every_hostile_record_is_refused_with_its_reason(topic: str) -> None:
    valid = valid_record(topic)
    assert decode(valid.headers, valid.value, valid.key).id
    for hostile in hostile_records(valid):
        record = hostile.record
        if hostile.reason_code is None:  # a duplicate id: decodes, the inbox drops it
            assert (
                decode(record.headers, record.value, record.key).id == valid.headers[1][1].decode()
            )
            continue
        with pytest.raises(EnvelopeError) as refused:
            decode(record.headers, record.value, record.key)
        assert refused.value.reason_code == hostile.reason_code, hostile.name


CE_NAMES = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
            "content-type"]  # fmt: skip
header_values = st.one_of(
    st.binary(max_size=40), st.text(max_size=40).map(str.encode), st.just(b"1.0"),
    st.sampled_from([e.ce_type().encode() for e in examples()]),
)  # fmt: skip


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(st.tuples(st.sampled_from(CE_NAMES), header_values), max_size=10),
    value=st.one_of(st.none(), st.binary(max_size=200)),
    key=st.one_of(st.none(), st.binary(max_size=40)),
)
def test_arbitrary_records_are_refused_with_a_known_reason(
    headers: list[tuple[str, bytes]], value: bytes | None, key: bytes | None
) -> None:
    try:
        envelope = decode(headers, value, key)
    except EnvelopeError as refused:
        assert refused.reason_code in REASONS
    else:
        assert key == envelope.event.key().encode()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(EVENT_TOPICS),
    at=st.integers(min_value=0, max_value=10_000),
    garbage=st.binary(min_size=1, max_size=20),
    header=st.sampled_from(CE_NAMES),
    header_value=header_values,
)
def test_a_valid_record_mangled_anywhere_decodes_or_is_refused_with_a_reason(
    topic: str, at: int, garbage: bytes, header: str, header_value: bytes
) -> None:
    valid = valid_record(topic)
    cut = at % (len(valid.value) + 1)
    mangled = valid.value[:cut] + garbage + valid.value[cut + len(garbage) :]
    headers = [(n, header_value if n == header else v) for n, v in valid.headers]
    for h, v in ((valid.headers, mangled), (headers, valid.value)):
        try:
            decode(h, v, valid.key)
        except EnvelopeError as refused:
            assert refused.reason_code in REASONS
