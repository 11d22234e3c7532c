"""The compatibility gate: each kind of breaking change is caught; compatible ones pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kgo_cli.schemas_cmd import app
from kgo_contracts import compat, generate

pytestmark = pytest.mark.unit

GRANTED = "kgo.wallet.CoinsGranted.v1.json"


@pytest.fixture
def today() -> dict[str, dict[str, Any]]:
    return generate.event_schemas()


def _changes(released: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.kind, c.detail) for c in compat.breaking_changes(released, current)]


def test_today_is_compatible_with_the_released_snapshot() -> None:
    released = compat.load_schemas(generate.SCHEMAS_ROOT / generate.RELEASED_DIR)
    assert set(released) == set(generate.event_schemas()), "run `kgo schemas release`"
    assert compat.breaking_changes(released, generate.event_schemas()) == []


def test_the_snapshot_is_byte_for_byte_a_release() -> None:
    snapshot = generate.release_snapshot()
    root = generate.SCHEMAS_ROOT
    assert generate.differences(root, snapshot, generate.RELEASED_DIR) == []


def test_removed_field_is_breaking(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    del current[GRANTED]["properties"]["programme"]
    current[GRANTED]["required"].remove("programme")
    assert _changes(today, current) == [("field removed", "programme")]


def test_renamed_field_is_breaking(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    schema = current[GRANTED]
    schema["properties"]["programme_code"] = schema["properties"].pop("programme")
    schema["required"] = [f if f != "programme" else "programme_code" for f in schema["required"]]
    assert _changes(today, current) == [("field renamed", "programme -> programme_code")]


@pytest.mark.parametrize(
    ("field", "change", "expected"),
    [
        ("amount", {"type": "number"}, 'type "integer" -> "number"'),
        ("amount", {"exclusiveMinimum": 1}, "exclusiveMinimum 0 -> 1"),
        ("account_id", {"format": "uri"}, 'format "uuid" -> "uri"'),
        ("reason", {"maxLength": 100}, "maxLength 200 -> 100"),
        ("account_kind", {"enum": ["resident"]}, "enum"),
        ("counter_account_kind", {"enum": ["budget", "resident", "shop", "x"]}, "enum"),
        ("account_kind", {"const": "resident"}, "const null -> "),
    ],
)
def test_changed_type_is_breaking(
    today: dict[str, Any], field: str, change: dict[str, Any], expected: str
) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["properties"][field].update(change)
    [(kind, detail)] = _changes(today, current)
    assert kind == "type changed"
    assert detail.startswith(f"{field}: ") and expected in detail


def test_new_required_field_is_breaking(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["properties"]["campaign"] = {"type": "string"}
    current[GRANTED]["required"].append("campaign")
    assert _changes(today, current) == [("new required field", "campaign")]


def test_optional_field_becoming_required_is_breaking(today: dict[str, Any]) -> None:
    name = "kgo.wallet.CoinsTransferredIn.v1.json"
    current = copy.deepcopy(today)
    current[name]["required"].append("memo")
    assert _changes(today, current) == [("became required", "memo")]


def test_required_field_becoming_optional_is_breaking(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["required"].remove("reference")
    assert _changes(today, current) == [("became optional", "reference")]


def test_moving_the_topic_or_key_is_breaking(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["x-kgo-topic"] = "kgo.grants.events"
    current[GRANTED]["x-kgo-key"] = "counter_account_id"
    [(kind, detail)] = _changes(today, current)
    assert kind == "schema changed" and "x-kgo-key" in detail and "x-kgo-topic" in detail


def test_removed_event_type_is_breaking(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    del current[GRANTED]
    assert _changes(today, current) == [("event removed", "no event has this type now")]


def test_optional_field_may_be_added(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["properties"]["campaign"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert _changes(today, current) == []


def test_documentation_may_change(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["description"] = "Reworded."
    current[GRANTED]["examples"] = []
    current[GRANTED]["properties"]["amount"]["description"] = "Whole coins."
    current[GRANTED]["properties"]["account_kind"]["enum"].reverse()
    assert _changes(today, current) == []


def test_new_event_type_is_not_checked_until_released(today: dict[str, Any]) -> None:
    released = copy.deepcopy(today)
    del released[GRANTED]
    assert _changes(released, today) == []


def test_bumping_the_major_exempts_the_change(today: dict[str, Any]) -> None:
    """v2 changes a type: a new file name beside the released v1, which v2 supersedes."""
    current = copy.deepcopy(today)
    v2 = current.pop(GRANTED)
    v2["properties"]["amount"]["type"] = "number"
    current["kgo.wallet.CoinsGranted.v2.json"] = v2
    assert _changes(today, current) == []
    released_v2 = {**today, "kgo.wallet.CoinsGranted.v2.json": v2}
    assert _changes(released_v2, current) == []


def test_a_lower_major_does_not_supersede(today: dict[str, Any]) -> None:
    released = {"kgo.wallet.CoinsGranted.v2.json": today[GRANTED]}
    assert _changes(released, today) == [("event removed", "no event has this type now")]


def test_changes_read_as_sentences(today: dict[str, Any]) -> None:
    current = copy.deepcopy(today)
    current[GRANTED]["properties"]["amount"]["type"] = "number"
    [change] = compat.breaking_changes(today, current)
    assert str(change) == (
        'kgo.wallet.CoinsGranted.v1.json: type changed: amount: type "integer" -> "number"'
    )


def test_cli_generates_checks_and_releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "SCHEMAS_ROOT", tmp_path)
    cli = CliRunner()
    assert cli.invoke(app, ["check"]).exit_code == 1  # nothing generated yet
    assert cli.invoke(app, ["gen"]).exit_code == 0
    result = cli.invoke(app, ["check"])
    assert result.exit_code == 0 and "not yet released" in result.output
    assert cli.invoke(app, ["release"]).exit_code == 0
    assert "not yet released" not in cli.invoke(app, ["check"]).output

    released = tmp_path / generate.RELEASED_DIR / GRANTED
    schema = json.loads(released.read_text())
    schema["properties"]["amount"]["type"] = "number"
    released.write_text(json.dumps(schema))
    result = cli.invoke(app, ["check"])
    assert result.exit_code == 1 and f"{GRANTED}: type changed: amount" in result.output
    assert cli.invoke(app, ["release"]).exit_code == 1
    assert cli.invoke(app, ["release", "--accept-breaking"]).exit_code == 0

    (tmp_path / generate.ASYNCAPI_FILE).write_text("{}\n")
    result = cli.invoke(app, ["check"])
    assert result.exit_code == 1 and "schemas/asyncapi.json" in result.output
    assert "kgo schemas gen" in result.output
