"""The committed artefacts (JSON Schemas, AsyncAPI) are what the models generate, and agree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import Draft7Validator, Draft202012Validator

from kgo_contracts import generate
from kgo_contracts.asyncapi import DLQ_HEADERS
from kgo_contracts.examples import examples
from kgo_contracts.registry import ALL_EVENTS
from kgo_contracts.topics import ALL_TOPICS, PUBLISHED_TOPICS, PUBLISHER, dlq

pytestmark = pytest.mark.unit

ROOT = generate.SCHEMAS_ROOT
CHECKER = Draft202012Validator.FORMAT_CHECKER


def _committed(rel: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((ROOT / rel).read_text(encoding="utf-8"))
    return result


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return _committed(generate.ASYNCAPI_FILE)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_committed_artefacts_are_up_to_date() -> None:
    stale = generate.differences(ROOT, generate.artefacts(), generate.JSONSCHEMA_DIR)
    assert stale == [], f"stale contract artefacts {stale}: run `uv run kgo schemas gen`"


def test_staleness_is_detected(tmp_path: Path) -> None:
    files = generate.artefacts()
    assert generate.write(tmp_path, files, generate.JSONSCHEMA_DIR) == sorted(files)
    assert generate.differences(tmp_path, files, generate.JSONSCHEMA_DIR) == []
    (tmp_path / generate.ASYNCAPI_FILE).write_text("{}\n")
    (tmp_path / "jsonschema" / "kgo.wallet.Gone.v1.json").write_text("{}\n")
    assert generate.differences(tmp_path, files, generate.JSONSCHEMA_DIR) == [
        "asyncapi.json",
        "jsonschema/kgo.wallet.Gone.v1.json",
    ]


def test_generation_is_deterministic() -> None:
    assert generate.artefacts() == generate.artefacts()


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.ce_type())
def test_schema_file_is_a_valid_2020_12_schema(event: Any) -> None:
    schema = _committed(f"jsonschema/{generate.schema_file_name(event)}")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://kgo.khonkaen.city/schemas/{event.ce_type()}.json"
    assert schema["title"] == event.wire_name.rsplit(".", 1)[1]
    assert schema["description"]
    assert "$ref" not in json.dumps(schema), "schemas must stand alone"
    assert schema["examples"]


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.ce_type())
def test_every_example_validates_against_its_committed_schema(example: Any) -> None:
    schema = _committed(f"jsonschema/{generate.schema_file_name(type(example))}")
    payload = json.loads(example.model_dump_json())
    Draft202012Validator(schema, format_checker=CHECKER).validate(payload)
    assert payload in schema["examples"]


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.ce_type())
def test_schema_rejects_what_the_model_rejects(event: Any) -> None:
    schema = _committed(f"jsonschema/{generate.schema_file_name(event)}")
    validator = Draft202012Validator(schema, format_checker=CHECKER)
    good = schema["examples"][0]
    for field in schema["required"]:
        assert not validator.is_valid({k: v for k, v in good.items() if k != field})
    for field, spec in schema["properties"].items():
        if spec.get("type") == "integer":
            assert not validator.is_valid({**good, field: 1.5})
            assert not validator.is_valid({**good, field: "5"})


def test_asyncapi_is_version_3_with_the_local_broker(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["servers"]["local"] == {
        "host": "127.0.0.1:19092",
        "protocol": "kafka",
        "description": asyncapi["servers"]["local"]["description"],
    }


def test_asyncapi_has_a_channel_for_every_topic(asyncapi: dict[str, Any]) -> None:
    addresses = sorted(c["address"] for c in asyncapi["channels"].values())
    assert addresses == sorted(ALL_TOPICS)


def test_asyncapi_carries_every_event_on_its_topic(asyncapi: dict[str, Any]) -> None:
    for event in ALL_EVENTS:
        channel = asyncapi["channels"][event.topic]
        message = _resolve(asyncapi, channel["messages"][event.ce_type()]["$ref"])
        assert message["headers"]["properties"]["ce_type"]["const"] == event.ce_type()
        assert message["headers"]["properties"]["ce_source"]["const"] == event.ce_source()
        payload = _resolve(asyncapi, message["payload"]["$ref"])
        published = _committed(f"jsonschema/{generate.schema_file_name(event)}")
        assert payload == {k: v for k, v in published.items() if k not in ("$schema", "$id")}
        key = message["bindings"]["kafka"]["key"]
        # keys are pseudonymous ids; a daily digest is keyed by its (public) day
        assert key.get("format") == "uuid" or (event.key_field, key["pattern"]) == (
            "day",
            r"^\d{4}-\d{2}-\d{2}$",
        )


def test_asyncapi_examples_validate_headers_and_payload(asyncapi: dict[str, Any]) -> None:
    for message in asyncapi["components"]["messages"].values():
        headers = Draft7Validator(message["headers"], format_checker=CHECKER)
        payload_schema = message["payload"]
        if "$ref" in payload_schema:
            payload_schema = _resolve(asyncapi, payload_schema["$ref"])
        payload = Draft7Validator(payload_schema, format_checker=CHECKER)
        assert message["examples"]
        for example in message["examples"]:
            headers.validate(example["headers"])
            payload.validate(example["payload"])


def test_every_topic_has_a_send_operation(asyncapi: dict[str, Any]) -> None:
    sent = {}
    for operation in asyncapi["operations"].values():
        assert operation["action"] == "send"
        channel = _resolve(asyncapi, operation["channel"]["$ref"])
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            _resolve(asyncapi, ref["$ref"])
        sent[channel["address"]] = operation["tags"][0]["name"]
    assert sent == {
        **{topic: PUBLISHER[topic] for topic in PUBLISHED_TOPICS},
        **{dlq(topic): "consumers" for topic in PUBLISHED_TOPICS},
    }


def test_dead_letter_headers_are_required(asyncapi: dict[str, Any]) -> None:
    for topic in PUBLISHED_TOPICS:
        channel = asyncapi["channels"][dlq(topic)]
        message = _resolve(asyncapi, channel["messages"]["DeadLetter"]["$ref"])
        assert message["headers"]["required"] == [
            "kgo_dlq_consumer",
            "kgo_dlq_reason",
            "kgo_dlq_reason_code",
            "kgo_dlq_source_offset",
            "kgo_dlq_source_partition",
            "kgo_dlq_source_topic",
        ]
        assert message["headers"]["properties"]["kgo_dlq_source_topic"]["const"] == topic


def test_readme_documents_every_topic_type_and_header() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [*ALL_TOPICS, *(e.ce_type() for e in ALL_EVENTS), *DLQ_HEADERS]
    names += ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"]
    assert [n for n in names if f"`{n}`" not in readme] == []
    for block in re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL):
        compile(block, "schemas/README.md", "exec")
