"""Dictionary rules: types from the contracts, a meaning for every column."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field

from kgo_contracts.base import BusinessTime, Coins, ContractEvent
from kgo_contracts.registry import ALL_EVENTS
from services.research.domain.dictionary import event_table, missing_meanings
from services.research.domain.read_models import all_read_models

pytestmark = pytest.mark.unit


def test_every_contract_field_and_every_read_model_column_has_a_meaning():
    tables = [event_table(c) for c in ALL_EVENTS] + [t.spec for t in all_read_models({}, 10)]
    assert missing_meanings(tables) == []


def test_types_come_from_the_contract():
    spec = {c.name: c for c in event_table(ALL_EVENTS[0]).columns}  # AccountOpened
    assert spec["occurred_at"].type == "timestamp" and spec["account_version"].type == "int64"
    assert spec["account_id"].type == "string" and spec["account_id"].pseudonymised
    assert spec["label"].type == "string" and not spec["label"].pseudonymised
    assert {"ce_id", "ce_time", "topic", "partition", "offset"} <= set(spec)


class _Undocumented(ContractEvent):
    wire_name: ClassVar[str] = "kgo.test.Undocumented"
    topic: ClassVar[str] = "t"
    key_field: ClassVar[str] = "thing"

    thing: str = Field(description="A thing.")
    mystery_coins: Coins
    occurred_at: BusinessTime


def test_a_new_field_without_a_meaning_is_caught():
    assert missing_meanings([event_table(_Undocumented)]) == ["test.Undocumented.v1.mystery_coins"]
