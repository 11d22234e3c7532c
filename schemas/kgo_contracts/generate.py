"""Generate the published contract artefacts from the event models.

One JSON Schema (draft 2020-12) per event in ``schemas/jsonschema/``, the AsyncAPI document
``schemas/asyncapi.json``, and on a deliberate release the snapshot in ``schemas/released/``.
The output is deterministic (sorted keys, 2-space indent, trailing newline), so
``kgo schemas check`` can compare it byte for byte with what is committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from .asyncapi import asyncapi_document
from .base import ContractEvent
from .examples import examples_of
from .registry import ALL_EVENTS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://kgo.khonkaen.city/schemas/"
#: The ``schemas/`` folder of the repository (this package lives in it).
SCHEMAS_ROOT = Path(__file__).resolve().parents[1]
JSONSCHEMA_DIR = "jsonschema"
RELEASED_DIR = "released"
ASYNCAPI_FILE = "asyncapi.json"

JsonObject = dict[str, Any]


class _ContractSchema(GenerateJsonSchema):
    """Pydantic's generator without the per-field titles it derives from Python names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def schema_file_name(event: type[ContractEvent]) -> str:
    """``kgo.wallet.CoinsGranted.v1.json``: wire name and major, never the Python path."""
    return f"{event.ce_type()}.json"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def event_schema(event: type[ContractEvent]) -> JsonObject:
    """The JSON Schema of one event's payload as it is on the wire (serialization mode)."""
    body = _inline_refs(
        event.model_json_schema(mode="serialization", schema_generator=_ContractSchema)
    )
    summary = _one_line(body.pop("description", ""))
    return {
        **body,
        "$schema": SCHEMA_DIALECT,
        "$id": ID_BASE + schema_file_name(event),
        "title": event.wire_name.rsplit(".", 1)[1],
        "description": f"{summary} Published on `{event.topic}` as CloudEvents type "
        f"`{event.ce_type()}`; the Kafka key is `{event.key_field}`.",
        "examples": [e.model_dump(mode="json") for e in examples_of(event)],
        "x-kgo-ce-type": event.ce_type(),
        "x-kgo-topic": event.topic,
        "x-kgo-key": event.key_field,
        "x-kgo-time": event.time_field,
    }


def _inline_refs(schema: JsonObject) -> JsonObject:
    """Replace local ``$ref``s by their ``$defs`` so each schema stands alone, also when it is
    embedded in the AsyncAPI document (contracts have no recursive types)."""
    defs: JsonObject = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        resolved = {k: resolve(v) for k, v in node.items() if k != "$ref"}
        if "$ref" in node:
            target = resolve(defs[node["$ref"].removeprefix("#/$defs/")])
            return {**target, **resolved}
        return resolved

    result: JsonObject = resolve(schema)
    return result


def event_schemas() -> dict[str, JsonObject]:
    """Today's schema of every event, by file name."""
    return {schema_file_name(event): event_schema(event) for event in ALL_EVENTS}


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def artefacts() -> dict[str, str]:
    """Every generated file, by path relative to ``schemas/``."""
    schemas = {event: event_schema(event) for event in ALL_EVENTS}
    files = {f"{JSONSCHEMA_DIR}/{schema_file_name(e)}": render(s) for e, s in schemas.items()}
    files[ASYNCAPI_FILE] = render(asyncapi_document(schemas))
    return files


def release_snapshot() -> dict[str, str]:
    """The released-schemas snapshot as it would be after ``kgo schemas release``."""
    return {f"{RELEASED_DIR}/{name}": render(s) for name, s in event_schemas().items()}


def differences(root: Path, files: Mapping[str, str], owned_dir: str) -> list[str]:
    """Paths under ``root`` whose content differs from ``files`` (missing ones included), and
    the ``.json`` files in ``owned_dir`` that ``files`` no longer has."""
    changed = [rel for rel, text in files.items() if _read(root / rel) != text]
    extra = [
        f"{owned_dir}/{path.name}"
        for path in (root / owned_dir).glob("*.json")
        if f"{owned_dir}/{path.name}" not in files
    ]
    return sorted(changed + extra)


def write(root: Path, files: Mapping[str, str], owned_dir: str) -> list[str]:
    """Make the tree under ``root`` match ``files``; returns the paths written or removed."""
    paths = differences(root, files, owned_dir)
    for rel in paths:
        path = root / rel
        if rel in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel], encoding="utf-8")
        else:
            path.unlink()
    return paths


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None
