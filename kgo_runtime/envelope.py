"""CloudEvents 1.0 over Kafka in binary mode: the attributes travel as ``ce_*`` headers, the
event contract's JSON is the record value and the event's key is the record key.

``encode`` is used by the relay, ``decode`` by every consumer. ``decode`` never lets a
malformed record through: it raises :class:`EnvelopeError` with a short ``reason_code`` (used
as a metric label and the ``kgo_dlq_reason_code`` header) and a readable ``reason``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha1
from types import EllipsisType
from typing import Final
from uuid import UUID

import orjson
from pydantic import ValidationError

from kgo_contracts.base import ContractEvent
from kgo_contracts.registry import UnknownEventType, contract_for

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
#: Namespace of KGO's stable CloudEvents ids. Never change it: ids derived from it are how
#: consumers recognise a republished event.
KGO_EVENT_ID_NAMESPACE: Final = UUID("d8f16db0-e93b-578a-8316-58770428b302")
_NAMESPACE_BYTES: Final = KGO_EVENT_ID_NAMESPACE.bytes
#: The header of a record's position in its publisher's stored log (see ``encode``).
POSITION_HEADER: Final = "kgo_position"

#: Largest record value a consumer accepts: contract events are well under 2 KiB, and a
#: bigger record is hostile or broken (it is dead-lettered ``too_large``).
MAX_VALUE_BYTES: Final = 64 * 1024
#: Longest CloudEvents attribute accepted (``ce_id`` is stored in every consumer's inbox).
MAX_ATTRIBUTE_LENGTH: Final = 256

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One Kafka record ready to produce."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded CloudEvent: its attributes and the validated contract event."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    event: ContractEvent


class EnvelopeError(ValueError):
    """A record that is not a valid KGO CloudEvent; it belongs in the dead-letter topic."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(f"{reason_code}: {reason}")
        self.reason_code = reason_code
        self.reason = reason


def default_topic(event: ContractEvent) -> str:
    """The topic an event contract is published on."""
    return type(event).topic


def stable_event_id(
    originator_id: UUID | str, originator_version: int, stored_at: datetime | None = None
) -> str:
    """The CloudEvents id of a stored event: the same stored event always gets the same id.

    The relay passes ``stored_at``, the time the event was created and stored with it, so two
    stored events that share an aggregate and a version (a history forked by a failover or a
    point-in-time restore that lost events already published) still get different ids, while
    every re-publication of one stored event carries the same id. Without ``stored_at``: the
    id of (aggregate, version) alone, as before (tools and tests that fold sample records).
    """
    name = f"{originator_id}:{originator_version}"
    if stored_at is not None:
        name += f":{stored_at.astimezone(UTC).isoformat(timespec='microseconds')}"
    # uuid5 without building UUID objects (the relay derives one per record it publishes):
    # the name's SHA-1 in the namespace, version 5 and the RFC 4122 variant set.
    digest = bytearray(sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode(
    event: ContractEvent,
    *,
    ce_id: str,
    source: str,
    topic_for: Callable[[ContractEvent], str] = default_topic,
    position: int | None = None,
) -> OutgoingRecord:
    """The Kafka record of ``event``; ``topic_for`` lets tests publish on their own topics.
    ``position``: the stored event's position in its publisher's log (the relay sets it), sent
    as the ``kgo_position`` header (decimal): what the daily digests' ranges count by.

    The relay encodes every record it publishes: the headers that are the same for every
    record of a type are made once, and the value is pydantic's JSON as bytes (what
    ``model_dump_json().encode()`` gives, without the round trip through ``str``)."""
    kind = type(event)
    type_header = _TYPE_HEADERS.get(kind)
    if type_header is None:
        type_header = _TYPE_HEADERS[kind] = ("ce_type", kind.ce_type().encode())
    key = event.key().encode()
    headers = [
        _SPECVERSION_HEADER,
        ("ce_id", ce_id.encode()),
        ("ce_source", source.encode()),
        type_header,
        ("ce_time", event.business_time().isoformat().encode()),
        ("ce_subject", key),
        _CONTENT_TYPE_HEADER,
    ]
    if position is not None:
        headers.append((POSITION_HEADER, b"%d" % position))
    return OutgoingRecord(
        topic=topic_for(event),
        key=key,
        value=event.__pydantic_serializer__.to_json(event),
        headers=headers,
    )


_SPECVERSION_HEADER: Final = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE_HEADER: Final = ("content-type", CONTENT_TYPE.encode())
#: The ``ce_type`` header of each contract class (its wire name and major are class constants).
_TYPE_HEADERS: dict[type[ContractEvent], tuple[str, bytes]] = {}


def header_map(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Headers as text; the last value wins, like most Kafka clients read them."""
    result: dict[str, str] = {}
    for name, raw in headers:
        if raw is None:
            continue
        try:
            result[name] = raw.decode()
        except UnicodeDecodeError:
            raise EnvelopeError("bad_header", f"header {name!r} is not UTF-8") from None
    return result


def _required(attrs: dict[str, str], name: str) -> str:
    value = attrs.get(name)
    if not value:
        raise EnvelopeError("missing_header", f"required header {name!r} is missing or empty")
    return value


def _check_attributes(attrs: dict[str, str]) -> None:
    """CloudEvents attributes are short printable text: they end up in Postgres (which
    refuses NUL) and in indexes (which refuse long rows), where they would fail forever."""
    for name, value in attrs.items():
        if not (name.startswith("ce_") or name == "content-type"):
            continue
        if len(value) > MAX_ATTRIBUTE_LENGTH:
            raise EnvelopeError("bad_header", f"header {name!r} is longer than "
                                f"{MAX_ATTRIBUTE_LENGTH} characters")  # fmt: skip
        if not value.isprintable():
            raise EnvelopeError("bad_header", f"header {name!r} holds control characters")


def _validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()
    )


def decode(
    headers: Iterable[tuple[str, bytes | None]],
    value: bytes | None,
    key: bytes | EllipsisType | None = ...,
) -> Envelope:
    """Decode and validate a record; raises :class:`EnvelopeError` if it is not acceptable.
    Given the record's ``key``, it must be the event's key (what the relay writes).

    Reason codes: ``bad_specversion``, ``missing_header``, ``bad_header``,
    ``bad_content_type``, ``unknown_type``, ``invalid_json``, ``too_large``,
    ``null_character``, ``contract_violation``, ``wrong_key``.
    """
    attrs = header_map(headers)
    _check_attributes(attrs)
    specversion = attrs.get("ce_specversion")
    if specversion != SPECVERSION:
        raise EnvelopeError(
            "bad_specversion", f"ce_specversion must be {SPECVERSION!r}, got {specversion!r}"
        )
    ce_id = _required(attrs, "ce_id")
    source = _required(attrs, "ce_source")
    ce_type = _required(attrs, "ce_type")
    content_type = attrs.get("content-type", CONTENT_TYPE)
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise EnvelopeError("bad_content_type", f"content-type {content_type!r} is not JSON")
    try:
        contract = contract_for(ce_type)
    except UnknownEventType as e:
        raise EnvelopeError("unknown_type", str(e)) from None
    if not value:
        raise EnvelopeError("invalid_json", "the record has no value")
    if len(value) > MAX_VALUE_BYTES:
        raise EnvelopeError("too_large", f"the value has {len(value)} bytes, at most "
                            f"{MAX_VALUE_BYTES} are accepted")  # fmt: skip
    if b"\\u0000" in value:
        # Valid JSON, but no Postgres text column can hold U+0000: refused here, once,
        # rather than failing the handler's transaction on every retry.
        raise EnvelopeError("null_character", "a string in the payload holds U+0000")
    try:
        event = contract.model_validate_json(value)
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise EnvelopeError("invalid_json", _validation_message(e)) from None
        raise EnvelopeError(
            "contract_violation", f"{ce_type} does not match its contract: {_validation_message(e)}"
        ) from None
    if key is not ... and key != event.key().encode():
        detail = f"the record's key is not the event's {contract.key_field}"
        raise EnvelopeError("wrong_key", detail)
    return Envelope(
        id=ce_id,
        source=source,
        type=ce_type,
        time=_time(attrs, event),
        subject=attrs.get("ce_subject") or event.key(),
        event=event,
    )


def payload_digest(envelope: Envelope) -> str:
    """SHA-256 (hex) of the event's type and its canonical content: the contract's fields
    that are not at their defaults, as JSON with sorted keys. The same stored event
    re-delivered always has the same digest, whatever its bytes' spacing or key order, and
    even after an optional field was added to its contract (absent, it is at its default);
    any changed value changes it. Consumers store it beside the ``ce_id`` they applied."""
    content = envelope.event.model_dump(mode="json", exclude_defaults=True)
    canonical = orjson.dumps([envelope.type, content], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _time(attrs: dict[str, str], event: ContractEvent) -> datetime:
    raw = attrs.get("ce_time")
    if raw is None:
        return event.business_time()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise EnvelopeError("bad_header", f"ce_time {raw!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise EnvelopeError("bad_header", f"ce_time {raw!r} has no UTC offset")
    return parsed
