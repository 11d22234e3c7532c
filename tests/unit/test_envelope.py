"""The CloudEvents envelope: what the relay writes is what every consumer reads back, and
anything else is refused with a reason code a dead letter can carry."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kgo_contracts.base import ContractEvent
from kgo_contracts.missions import MissionCompleted
from kgo_contracts.topics import MISSIONS
from kgo_runtime.envelope import (
    KGO_EVENT_ID_NAMESPACE,
    Envelope,
    EnvelopeError,
    decode,
    encode,
    header_map,
    payload_digest,
    stable_event_id,
)

pytestmark = pytest.mark.unit

BANGKOK = timezone(timedelta(hours=7))
WALLET = uuid.UUID("5a4b1c2d-0000-4000-8000-000000000001")


def completion(**changes: object) -> MissionCompleted:
    fields: dict[str, object] = {
        "completion_id": uuid.UUID("5a4b1c2d-0000-4000-8000-0000000000c1"),
        "wallet_id": WALLET,
        "mission_id": uuid.UUID("5a4b1c2d-0000-4000-8000-0000000000a1"),
        "programme": "welcome",
        "period": "2022-06",
        "reward": 20,
        "occurred_at": datetime(2022, 6, 9, 8, 30, tzinfo=BANGKOK),
    }
    fields.update(changes)
    return MissionCompleted.model_validate(fields)


def encoded_parts(**changes: object) -> tuple[list[tuple[str, bytes]], bytes]:
    record = encode(completion(**changes), ce_id="id-1", source="/kgo/missions")
    return list(record.headers), record.value


def replace_header(
    headers: list[tuple[str, bytes]], name: str, value: bytes | None
) -> list[tuple[str, bytes]]:
    kept = [(n, v) for n, v in headers if n != name]
    return kept if value is None else [*kept, (name, value)]


def test_encode_writes_binary_mode_cloudevent() -> None:
    event = completion()
    record = encode(event, ce_id="id-1", source="/kgo/missions")

    assert record.topic == MISSIONS
    assert record.key == str(WALLET).encode()
    assert json.loads(record.value) == json.loads(event.model_dump_json())
    assert header_map(record.headers) == {
        "ce_specversion": "1.0",
        "ce_id": "id-1",
        "ce_source": "/kgo/missions",
        "ce_type": "kgo.missions.MissionCompleted.v1",
        "ce_time": "2022-06-09T08:30:00+07:00",
        "ce_subject": str(WALLET),
        "content-type": "application/json",
    }


def test_encode_can_target_another_topic() -> None:
    record = encode(completion(), ce_id="x", source="/kgo/t", topic_for=lambda _e: "t.events")
    assert record.topic == "t.events"


def test_decode_round_trips_the_event_and_attributes() -> None:
    event = completion()
    record = encode(event, ce_id="id-1", source="/kgo/missions")

    envelope = decode(record.headers, record.value)

    assert envelope == Envelope(
        id="id-1",
        source="/kgo/missions",
        type="kgo.missions.MissionCompleted.v1",
        time=datetime(2022, 6, 9, 8, 30, tzinfo=BANGKOK),
        subject=str(WALLET),
        event=event,
    )
    assert envelope.time.utcoffset() == timedelta(hours=7)


def test_decode_accepts_cloudevents_without_optional_time_and_subject() -> None:
    headers, value = encoded_parts()
    headers = replace_header(replace_header(headers, "ce_time", None), "ce_subject", None)

    envelope = decode(headers, value)

    assert envelope.time == completion().occurred_at
    assert envelope.subject == str(WALLET)


@pytest.mark.parametrize(
    ("header", "value", "reason_code"),
    [
        ("ce_specversion", None, "bad_specversion"),
        ("ce_specversion", b"0.3", "bad_specversion"),
        ("ce_id", None, "missing_header"),
        ("ce_id", b"", "missing_header"),
        ("ce_source", None, "missing_header"),
        ("ce_type", None, "missing_header"),
        ("ce_type", b"kgo.missions.MissionForgotten.v1", "unknown_type"),
        ("ce_type", b"kgo.missions.MissionCompleted.v2", "unknown_type"),
        ("ce_time", b"yesterday", "bad_header"),
        ("ce_time", b"2022-06-09T08:30:00", "bad_header"),
        ("ce_id", b"\xff\xfe", "bad_header"),
        ("content-type", b"application/avro", "bad_content_type"),
    ],
)
def test_decode_refuses_bad_headers(header: str, value: bytes | None, reason_code: str) -> None:
    headers, payload = encoded_parts()

    with pytest.raises(EnvelopeError) as caught:
        decode(replace_header(headers, header, value), payload)

    assert caught.value.reason_code == reason_code
    assert header in caught.value.reason or reason_code in {"unknown_type", "bad_header"}


@pytest.mark.parametrize("payload", [b"", b"{not json", b'{"reward": 20,'])
def test_decode_refuses_invalid_json(payload: bytes) -> None:
    headers, _ = encoded_parts()
    with pytest.raises(EnvelopeError) as caught:
        decode(headers, payload)
    assert caught.value.reason_code == "invalid_json"


def test_decode_refuses_no_value() -> None:
    headers, _ = encoded_parts()
    with pytest.raises(EnvelopeError) as caught:
        decode(headers, None)
    assert caught.value.reason_code == "invalid_json"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reward": "20"}, "reward"),  # an amount as a string: coins are strict integers
        ({"reward": 0}, "reward"),
        ({"wallet_id": "not-a-uuid"}, "wallet_id"),
        ({"occurred_at": "2022-06-09T08:30:00"}, "occurred_at"),  # no UTC offset
    ],
)
def test_decode_refuses_payloads_breaking_the_contract(
    change: dict[str, object], field: str
) -> None:
    headers, value = encoded_parts()
    payload = json.loads(value) | change

    with pytest.raises(EnvelopeError) as caught:
        decode(headers, json.dumps(payload).encode())

    assert caught.value.reason_code == "contract_violation"
    assert field in caught.value.reason
    assert "kgo.missions.MissionCompleted.v1" in caught.value.reason


def test_decode_refuses_missing_fields_and_non_objects() -> None:
    headers, value = encoded_parts()
    without_reward = {k: v for k, v in json.loads(value).items() if k != "reward"}
    for payload in (json.dumps(without_reward).encode(), b"[1, 2]", b'"text"'):
        with pytest.raises(EnvelopeError) as caught:
            decode(headers, payload)
        assert caught.value.reason_code == "contract_violation"


def test_envelope_error_reads_well() -> None:
    error = EnvelopeError("unknown_type", "no contract")
    assert str(error) == "unknown_type: no contract"
    assert isinstance(error, ValueError)


def test_stable_event_id_is_a_fixed_uuid5() -> None:
    originator = uuid.UUID("5a4b1c2d-0000-4000-8000-000000000001")
    ce_id = stable_event_id(originator, 3)
    assert uuid.UUID(ce_id).version == 5
    # Pinned: a changed namespace or recipe would make consumers re-apply old events.
    assert ce_id == stable_event_id(str(originator), 3)
    assert ce_id == "bd6c4534-78df-5da2-943f-f639e7eda8a5"


@given(st.uuids(), st.integers(min_value=1, max_value=10**9))
def test_stable_event_id_is_deterministic_and_distinct(originator: uuid.UUID, version: int) -> None:
    assert stable_event_id(originator, version) == stable_event_id(originator, version)
    assert stable_event_id(originator, version) != stable_event_id(originator, version + 1)
    assert stable_event_id(originator, version) != stable_event_id(uuid.uuid4(), version)


def test_the_payload_digest_is_the_content_not_the_bytes():
    """What the consumers' inbox stores beside a ce_id: the same content re-delivered (keys in
    another order, other spacing, an optional field absent) digests the same; any changed
    value, or another type, does not."""
    headers, value = encoded_parts()
    digest = payload_digest(decode(headers, value))
    reordered = json.dumps(dict(reversed(json.loads(value).items())), indent=2).encode()
    assert payload_digest(decode(headers, reordered)) == digest
    changed_headers, changed = encoded_parts(reward=21)
    assert payload_digest(decode(changed_headers, changed)) != digest
    envelope = decode(headers, value)
    other_type = Envelope(envelope.id, envelope.source, "kgo.missions.Other.v1", envelope.time,
                          envelope.subject, envelope.event)  # fmt: skip
    assert payload_digest(other_type) != digest


@given(st.uuids(), st.integers(min_value=1, max_value=10**9), st.datetimes(timezones=st.just(UTC)))
def test_stable_event_id_is_the_standard_uuid5_of_its_name(
    originator: uuid.UUID, version: int, stored_at: datetime
) -> None:
    name = f"{originator}:{version}:{stored_at.isoformat(timespec='microseconds')}"
    assert stable_event_id(originator, version, stored_at) == str(
        uuid.uuid5(KGO_EVENT_ID_NAMESPACE, name)
    )


def every_example() -> list[ContractEvent]:
    from kgo_contracts import (
        examples,
        examples_digests,
        examples_merchant,
        examples_missions,
        examples_transit,
    )

    modules = (examples, examples_digests, examples_merchant, examples_missions, examples_transit)
    return [event for module in modules for event in module.examples()]


@pytest.mark.parametrize("event", every_example(), ids=lambda e: type(e).__name__)
def test_encode_writes_pydantics_json_and_the_events_attributes(event: ContractEvent) -> None:
    """The record's exact bytes, as the relay has always written them (encode builds them
    from cached parts; consumers and digests see no difference)."""
    record = encode(event, ce_id="id-9", source="/kgo/wallet", position=12)
    assert record.value == event.model_dump_json().encode()
    assert record.key == event.key().encode()
    assert record.headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"id-9"),
        ("ce_source", b"/kgo/wallet"),
        ("ce_type", event.ce_type().encode()),
        ("ce_time", event.business_time().isoformat().encode()),
        ("ce_subject", event.key().encode()),
        ("content-type", b"application/json"),
        ("kgo_position", b"12"),
    ]


@pytest.mark.parametrize("event", every_example(), ids=lambda e: type(e).__name__)
def test_encode_without_a_position_and_again_reads_back_as_the_event(event: ContractEvent) -> None:
    """Outside the relay (no position) there is no ``kgo_position`` header; the per-type
    headers made once are the same on every later record, and each record decodes back to
    the event it was made of."""
    first = encode(event, ce_id="id-1", source="/kgo/tools")
    again = encode(event, ce_id="id-2", source="/kgo/tools")
    assert first.topic == again.topic == type(event).topic
    assert first.value == again.value == event.model_dump_json().encode()
    assert [name for name, _ in first.headers] == [
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
        "content-type",
    ]  # fmt: skip
    assert dict(again.headers)["ce_id"] == b"id-2"
    assert dict(again.headers)["ce_type"] == event.ce_type().encode()
    envelope = decode(first.headers, first.value)
    assert (envelope.id, envelope.type, envelope.event) == ("id-1", event.ce_type(), event)
