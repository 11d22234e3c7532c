"""The AsyncAPI 3.0 document of KGO's topics, built by hand from the contract registry.

One channel per event topic and per ``.dlq`` sibling, one message per event type (payload:
the event's JSON Schema; headers: the CloudEvents 1.0 Kafka binary-mode headers; key: the
Kafka message binding), and one ``send`` operation per publisher.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import CE_SPECVERSION, CONTENT_TYPE, ContractEvent
from .examples import example_ce_id, examples_of
from .topics import DIGESTS, PUBLISHED_TOPICS, PUBLISHER, dlq

JsonObject = dict[str, Any]

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
LOCAL_BROKER = "127.0.0.1:19092"
DEAD_LETTER = "DeadLetter"

TOPIC_DESCRIPTIONS: dict[str, str] = {
    "wallet": "The ledger, one record per account entry: accounts opened, the supply minted, "
    "treasury transfers, grants and refused grants, spends, holds and payments. The only place "
    "a balance changes; every wallet balance can be rebuilt from this topic alone.",
    "missions": "The mission catalogue (published, changed, retired), municipal activities and "
    "check-ins, and missions completed by residents; the wallet turns each completion with a "
    "reward into exactly one grant or a recorded refusal (a completion the campaign cap cut to "
    "nothing is MissionRewardCapped).",
    "merchant": "Discounts redeemed with coins at participating shops.",
    "transit": "Bus fares paid at validator taps, in coins and baht.",
    DIGESTS: "The ledger's signed daily digests, for anyone: which records of "
    "kgo.wallet.events each Bangkok day covers, their hash, the day's totals and the chain to "
    "the day before, signed with the municipality's Ed25519 key (schemas/keys/).",
}

DLQ_HEADERS: dict[str, JsonObject] = {
    "kgo_dlq_reason": {"description": "Why the consumer gave up on the record, for humans."},
    "kgo_dlq_reason_code": {
        "description": "The same reason as a short code, e.g. `invalid_json`, `unknown_type`, "
        "`contract_violation`, `missing_header`, `rejected` (the receiving service refused it).",
        "minLength": 1,
    },
    "kgo_dlq_source_topic": {"description": "The topic the record was read from."},
    "kgo_dlq_source_partition": {
        "description": "Its partition, in decimal.",
        "pattern": "^[0-9]+$",
    },
    "kgo_dlq_source_offset": {"description": "Its offset, in decimal.", "pattern": "^[0-9]+$"},
    "kgo_dlq_consumer": {"description": "The KGO consumer that gave up on it, e.g. `projections`."},
}


def _service(topic: str) -> str:
    """``kgo.wallet.events`` -> ``wallet``: each topic has exactly one publisher."""
    return PUBLISHER[topic]


def _operation(topic: str, service: str) -> str:
    """``wallet.publish`` for a service's own events topic, ``wallet.digests.publish`` else."""
    return service if topic.endswith(".events") else f"{service}.{topic.split('.')[2]}"


def _ref(*path: str) -> JsonObject:
    return {"$ref": "#/" + "/".join(path)}


def _summary(event: type[ContractEvent]) -> str:
    return " ".join((event.__doc__ or "").split())


def _payload(schema: Mapping[str, Any]) -> JsonObject:
    """The event schema as embedded here: AsyncAPI's own schema dialect carries no
    ``$schema``, and the ``$id`` belongs to the published file."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def _key_schema(event: type[ContractEvent], schema: Mapping[str, Any]) -> JsonObject:
    key = {k: v for k, v in schema["properties"][event.key_field].items() if k != "description"}
    return {**key, "description": f"The payload's `{event.key_field}`, as UTF-8 text."}


def _ce_headers(event: type[ContractEvent], key: JsonObject) -> JsonObject:
    properties: JsonObject = {
        "ce_specversion": {"type": "string", "const": CE_SPECVERSION},
        "ce_id": {
            "type": "string",
            "minLength": 1,
            "description": "Stable id of the stored event: a record delivered again carries "
            "the same id. Drop records whose ce_id you have already processed.",
        },
        "ce_source": {"type": "string", "const": event.ce_source()},
        "ce_type": {"type": "string", "const": event.ce_type()},
        "ce_time": {
            "type": "string",
            "format": "date-time",
            "pattern": r"\+07:00$",
            "description": f"Business time: the payload's `{event.time_field}`, in RFC 3339 "
            "with Khon Kaen's offset +07:00.",
        },
        "ce_subject": {**key, "description": "The Kafka key."},
        "content-type": {"type": "string", "const": CONTENT_TYPE},
    }
    required = sorted(properties)
    properties["kgo_position"] = {
        "type": "string",
        "pattern": "^[1-9][0-9]*$",
        "description": "The record's position in its publisher's stored log (decimal): the "
        "same when the record is published again; the daily digests count by it. Absent on "
        "records published before positions were.",
    }
    return {"type": "object", "required": required, "properties": properties}


def _event_message(event: type[ContractEvent], schema: Mapping[str, Any]) -> JsonObject:
    key = _key_schema(event, schema)
    return {
        "name": schema["title"],
        "title": event.ce_type(),
        "summary": _summary(event),
        "contentType": CONTENT_TYPE,
        "headers": _ce_headers(event, key),
        "payload": _ref("components", "schemas", event.ce_type()),
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
        "examples": [
            {"headers": e.ce_headers(example_ce_id(e)), "payload": e.model_dump(mode="json")}
            for e in examples_of(event)
        ],
    }


def _dead_letter_message(topic: str, events: list[type[ContractEvent]]) -> JsonObject:
    dlq_headers = {name: {"type": "string", **s} for name, s in DLQ_HEADERS.items()}
    dlq_headers["kgo_dlq_source_topic"]["const"] = topic
    originals = {
        name: {"type": "string", "description": "Copied from the original record, if it had it."}
        for name in _ce_headers(events[0], {})["properties"]
    }
    sample = examples_of(events[0])[0]
    unknown_type = f"{sample.wire_name}.v9"  # e.g. a publisher ahead of this consumer
    return {
        "name": DEAD_LETTER,
        "title": f"{dlq(topic)} record",
        "summary": f"A record of `{topic}` that a consumer could not process, unchanged, with "
        "the reason in `kgo_dlq_*` headers.",
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "required": sorted(dlq_headers),
            "properties": {**originals, **dlq_headers},
        },
        "payload": {
            "description": f"The original record's value, unchanged: normally one of the events "
            f"of `{topic}` (see its `ce_type` header), but any bytes if it could not be decoded."
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record's key, unchanged."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [
            {
                "headers": {
                    **sample.ce_headers(example_ce_id(sample)),
                    "ce_type": unknown_type,
                    "kgo_dlq_reason": f"no published contract for ce_type {unknown_type!r}",
                    "kgo_dlq_reason_code": "unknown_type",
                    "kgo_dlq_source_topic": topic,
                    "kgo_dlq_source_partition": "2",
                    "kgo_dlq_source_offset": "41",
                    "kgo_dlq_consumer": "projections",
                },
                "payload": sample.model_dump(mode="json"),
            }
        ],
    }


def _channel(address: str, description: str, messages: JsonObject, **kafka: Any) -> JsonObject:
    return {
        "address": address,
        "description": description,
        "messages": messages,
        "bindings": {"kafka": {**kafka, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _send(channel: str, message_ids: list[str], summary: str, tag: str) -> JsonObject:
    return {
        "action": "send",
        "channel": _ref("channels", channel),
        "messages": [_ref("channels", channel, "messages", m) for m in message_ids],
        "summary": summary,
        "tags": [{"name": tag}],
    }


def asyncapi_document(schemas: Mapping[type[ContractEvent], Mapping[str, Any]]) -> JsonObject:
    """The whole document, from every event's JSON Schema (by event class)."""
    channels: JsonObject = {}
    operations: JsonObject = {}
    messages: JsonObject = {}
    for topic in PUBLISHED_TOPICS:
        service, events = _service(topic), [e for e in schemas if e.topic == topic]
        operation = _operation(topic, service)
        ids = [e.ce_type() for e in events]
        messages |= {e.ce_type(): _event_message(e, schemas[e]) for e in events}
        messages[dlq(topic)] = _dead_letter_message(topic, events)
        channels[topic] = _channel(
            topic,
            f"{TOPIC_DESCRIPTIONS.get(topic) or TOPIC_DESCRIPTIONS[service]} "
            f"Published by the {service} service.",
            {i: _ref("components", "messages", i) for i in ids},
            topicConfiguration={"cleanup.policy": ["delete"], "retention.ms": -1},
        )
        channels[dlq(topic)] = _channel(
            dlq(topic),
            f"Dead letters of `{topic}`: records a consumer could not process.",
            {DEAD_LETTER: _ref("components", "messages", dlq(topic))},
        )
        operations[f"{operation}.publish"] = _send(
            topic,
            ids,
            f"The {service} service publishes its events, relayed from its event "
            "store: at-least-once, in order per key.",
            service,
        )
        operations[f"{operation}.deadLetter"] = _send(
            dlq(topic),
            [DEAD_LETTER],
            f"A KGO consumer of `{topic}` sends a record it cannot "
            "process here, unchanged, and moves on.",
            "consumers",
        )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "KGO event streams",
            "version": "1.0.0",
            "description": "The public Kafka topics of KGO, Khon Kaen's city token. Each "
            "event type is versioned on its own (major in `ce_type`); see schemas/README.md.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": LOCAL_BROKER,
                "protocol": "kafka",
                "description": "The developer broker started by `kgo infra up`.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {e.ce_type(): _payload(s) for e, s in schemas.items()},
            "messages": messages,
        },
    }
