"""The compatibility gate: today's event schemas against the released ones.

Subscribers replay topics from the beginning and validate against the schema they pinned, so
within one major version a released schema may only gain optional fields. Everything else
that changes the accepted values of a released field is breaking: a field removed or
renamed, its type, format, enum, const or bounds changed (widening too: a consumer of
``integer`` is not ready for ``1.5``), a new required field, a field that became required
or optional, the topic or key moved, or a released event type gone. A breaking change needs a
new major (a new ce_type and file name, released beside the old one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

#: Keywords that document a schema without changing which values it accepts.
ANNOTATIONS = frozenset(
    {"$comment", "$id", "$schema", "default", "deprecated", "description", "examples", "title"}
)
#: Keywords whose value is data, not a schema.
_LITERALS = frozenset({"const", "enum", "required"})


@dataclass(frozen=True)
class BreakingChange:
    schema: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.schema}: {self.kind}: {self.detail}"


def load_schemas(folder: Path) -> dict[str, JsonObject]:
    """The schemas in a folder (e.g. ``schemas/released``), by file name."""
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
    }


def _name_and_major(file_name: str) -> tuple[str, int]:
    """``kgo.wallet.CoinsGranted.v1.json`` -> (``kgo.wallet.CoinsGranted``, 1)."""
    wire_name, _, major = file_name.removesuffix(".json").rpartition(".v")
    return wire_name, int(major)


def _superseded(file_name: str, current: Mapping[str, JsonObject]) -> bool:
    wire_name, major = _name_and_major(file_name)
    return any(
        _name_and_major(name)[0] == wire_name and _name_and_major(name)[1] > major
        for name in current
    )


def breaking_changes(
    released: Mapping[str, JsonObject], current: Mapping[str, JsonObject]
) -> list[BreakingChange]:
    """Every breaking change of ``current`` against ``released`` (both by file name).

    Events not yet released are not checked. A released major that a higher major of the
    same event replaced is not reported as removed."""
    changes: list[BreakingChange] = []
    for name, old in sorted(released.items()):
        new = current.get(name)
        if new is not None:
            changes += compare(name, old, new)
        elif not _superseded(name, current):
            changes.append(BreakingChange(name, "event removed", "no event has this type now"))
    return changes


def compare(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[BreakingChange]:
    """The breaking changes from one released schema to today's schema of the same event."""
    changes: list[BreakingChange] = []
    old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    added = [f for f in new_fields if f not in old_fields]
    renamed_to: set[str] = set()
    for field, old_schema in old_fields.items():
        if field not in new_fields:
            twin = next(
                (f for f in added if f not in renamed_to and _same(new_fields[f], old_schema)),
                None,
            )
            if twin is None:
                changes.append(BreakingChange(name, "field removed", field))
            else:
                renamed_to.add(twin)
                changes.append(BreakingChange(name, "field renamed", f"{field} -> {twin}"))
            continue
        if not _same(old_schema, new_fields[field]):
            detail = _describe(_domain(old_schema), _domain(new_fields[field]))
            changes.append(BreakingChange(name, "type changed", f"{field}: {detail}"))
        if (field in old_required) != (field in new_required):
            kind = "became required" if field in new_required else "became optional"
            changes.append(BreakingChange(name, kind, field))
    for field in added:
        if field in new_required and field not in renamed_to:
            changes.append(BreakingChange(name, "new required field", field))
    old_rest, new_rest = _rest(old), _rest(new)
    if old_rest != new_rest:
        changes.append(BreakingChange(name, "schema changed", _describe(old_rest, new_rest)))
    return changes


def _same(a: Any, b: Any) -> bool:
    return bool(_domain(a) == _domain(b))


def _domain(node: Any) -> Any:
    """A schema without its annotations, with enums in a canonical order: two schemas with
    equal domains accept exactly the same values."""
    if isinstance(node, list):
        return [_domain(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: JsonObject = {}
    for key, value in node.items():
        if key in ANNOTATIONS:
            continue
        if key == "properties":
            result[key] = {field: _domain(s) for field, s in value.items()}
        elif key in _LITERALS:
            result[key] = sorted(value, key=json.dumps) if isinstance(value, list) else value
        else:
            result[key] = _domain(value)
    return result


def _rest(schema: Mapping[str, Any]) -> JsonObject:
    """The top-level keywords other than the fields (e.g. ``type``, ``x-kgo-topic``)."""
    rest: JsonObject = _domain(
        {k: v for k, v in schema.items() if k not in ("properties", "required")}
    )
    return rest


def _describe(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return "; ".join(
        f"{k} {json.dumps(old.get(k), sort_keys=True)} -> {json.dumps(new.get(k), sort_keys=True)}"
        for k in keys
    )
