"""The event contracts: what a subscriber relies on, pinned."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from kgo_contracts import topics
from kgo_contracts.base import ContractEvent
from kgo_contracts.examples import examples, examples_of
from kgo_contracts.registry import ALL_EVENTS, BY_CE_TYPE

pytestmark = pytest.mark.unit

#: The wire types, written out: renaming or moving a class must not change any of them.
EXPECTED_CE_TYPES = [
    "kgo.wallet.AccountOpened.v1",
    "kgo.wallet.SupplyMinted.v1",
    "kgo.wallet.CoinsTransferredOut.v1",
    "kgo.wallet.CoinsTransferredIn.v1",
    "kgo.wallet.GrantDisbursed.v1",
    "kgo.wallet.CoinsGranted.v1",
    "kgo.wallet.GrantRefused.v1",
    "kgo.wallet.CoinsSpent.v1",
    "kgo.wallet.PaymentReceived.v1",
    "kgo.wallet.CoinsHeld.v1",
    "kgo.wallet.HoldCaptured.v1",
    "kgo.wallet.HoldReleased.v1",
    "kgo.wallet.HoldExpired.v1",
    "kgo.wallet.RefundPaid.v1",
    "kgo.wallet.CoinsRefunded.v1",
    "kgo.wallet.RewardPaid.v1",
    "kgo.wallet.CoinsRewarded.v1",
    "kgo.wallet.SettlementPaid.v1",
    "kgo.wallet.CoinsSettled.v1",
    "kgo.wallet.ShortfallCovered.v1",
    "kgo.wallet.ShortfallCompensated.v1",
    "kgo.wallet.ResidentErased.v1",
    "kgo.missions.MissionCompleted.v1",
    "kgo.missions.MissionRewardCapped.v1",
    "kgo.missions.MissionPublished.v1",
    "kgo.missions.MissionChanged.v1",
    "kgo.missions.MissionRetired.v1",
    "kgo.missions.ActivityScheduled.v1",
    "kgo.missions.ActivityCheckedIn.v1",
    "kgo.merchant.DiscountRedeemed.v1",
    "kgo.merchant.ShopEnrolled.v1",
    "kgo.merchant.ShopRulesChanged.v1",
    "kgo.merchant.ShopSuspended.v1",
    "kgo.merchant.ShopReinstated.v1",
    "kgo.merchant.RedemptionDeclined.v1",
    "kgo.merchant.RedemptionVoided.v1",
    "kgo.merchant.CustomerRewarded.v1",
    "kgo.merchant.ShopSettled.v1",
    "kgo.transit.FarePaid.v1",
    "kgo.transit.FareDeclined.v1",
    "kgo.transit.PassDenied.v1",
    "kgo.transit.PassReinstated.v1",
    "kgo.transit.RouteOpened.v1",
    "kgo.transit.BusRegistered.v1",
    "kgo.transit.ValidatorRegistered.v1",
    "kgo.transit.CampaignScheduled.v1",
    "kgo.transit.OperatorSettled.v1",
    "kgo.wallet.DayClosed.v1",
]
EXPECTED_SOURCES = {
    topics.WALLET: "/kgo/wallet",
    topics.DIGESTS: "/kgo/wallet",
    topics.MISSIONS: "/kgo/missions",
    topics.MERCHANT: "/kgo/merchant",
    topics.TRANSIT: "/kgo/transit",
}
#: Events with no integer field at all (a fact with no amount, count or version).
NO_INTEGERS = {
    "kgo.wallet.AccountOpened.v1",
    "kgo.missions.ActivityCheckedIn.v1",
    "kgo.transit.BusRegistered.v1",
    "kgo.transit.ValidatorRegistered.v1",
    "kgo.merchant.ShopSuspended.v1",
    "kgo.merchant.ShopReinstated.v1",
}
PERSONAL = re.compile(
    r"name|phone|mobile|national|citizen|passport|email|e_mail|address|birth|dob|gender|"
    r"first_|last_|surname|line_id"
)

by_type = pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.ce_type())


def _payload(event: type[ContractEvent]) -> dict[str, Any]:
    return examples_of(event)[0].model_dump(mode="json")


def _fields_of_type(event: type[ContractEvent], json_type: str) -> list[str]:
    props = event.model_json_schema(mode="serialization")["properties"]
    return [name for name, s in props.items() if s.get("type") == json_type]


def test_ce_types_are_pinned() -> None:
    assert [e.ce_type() for e in ALL_EVENTS] == EXPECTED_CE_TYPES
    assert list(BY_CE_TYPE) == EXPECTED_CE_TYPES


@by_type
def test_event_lives_on_its_services_topic(event: type[ContractEvent]) -> None:
    assert event.topic in topics.PUBLISHED_TOPICS
    publisher = topics.PUBLISHER[event.topic]
    assert event.wire_name.startswith(f"kgo.{publisher}.")
    assert event.ce_source() == EXPECTED_SOURCES[event.topic]


@by_type
def test_every_event_has_an_example(event: type[ContractEvent]) -> None:
    assert examples_of(event), f"add an example of {event.__name__} to examples.py"


@by_type
def test_round_trips_through_json(event: type[ContractEvent]) -> None:
    for example in examples_of(event):
        wire = example.model_dump_json()
        assert event.model_validate_json(wire) == example
        assert json.loads(event.model_validate_json(wire).model_dump_json()) == json.loads(wire)


@by_type
def test_key_field_is_a_required_field(event: type[ContractEvent]) -> None:
    field = event.model_fields.get(event.key_field)
    assert field is not None and field.is_required()
    assert event.model_fields[event.time_field].is_required()
    example = examples_of(event)[0]
    assert example.key() == str(getattr(example, event.key_field))


@by_type
def test_integer_fields_take_only_whole_numbers(event: type[ContractEvent]) -> None:
    fields = _fields_of_type(event, "integer")
    assert fields or event.ce_type() in NO_INTEGERS
    for field in fields:
        for bad in (1.5, 5.0, "5", True, -1, None):
            with pytest.raises(ValidationError):
                event.model_validate_json(json.dumps({**_payload(event), field: bad}))


@by_type
def test_coin_amounts_are_positive(event: type[ContractEvent]) -> None:
    props = event.model_json_schema(mode="serialization")["properties"]
    amounts = [n for n, s in props.items() if s.get("exclusiveMinimum") == 0]
    for field in amounts:
        assert props[field]["type"] == "integer"
        with pytest.raises(ValidationError):
            event.model_validate({**_payload(event), field: 0})
    if {"amount", "reward"} & set(props):
        assert amounts, "a moved amount must be Coins (> 0), not a balance"


@by_type
def test_times_must_carry_their_offset(event: type[ContractEvent]) -> None:
    props = event.model_json_schema(mode="serialization")["properties"]
    times = [name for name, s in props.items() if s.get("format") == "date-time"]
    assert event.time_field in times
    for field in times:
        with pytest.raises(ValidationError):
            event.model_validate({**_payload(event), field: "2022-06-10T08:00:00"})
        aware = event.model_validate({**_payload(event), field: "2022-06-10T08:00:00+07:00"})
        assert getattr(aware, field).utcoffset() is not None


@by_type
def test_no_field_suggests_personal_data(event: type[ContractEvent]) -> None:
    suspicious = [f for f in event.model_fields if PERSONAL.search(f)]
    assert suspicious == [], "events carry pseudonymous ids only"


def test_events_are_immutable_facts() -> None:
    example = examples()[0]
    with pytest.raises(ValidationError):
        example.account_id = example.account_id  # type: ignore[attr-defined]


def test_headers_follow_cloudevents_binary_mode() -> None:
    example = examples_of(BY_CE_TYPE["kgo.transit.FarePaid.v1"])[0]
    headers = example.ce_headers("id-1")
    assert headers == {
        "ce_specversion": "1.0",
        "ce_id": "id-1",
        "ce_source": "/kgo/transit",
        "ce_type": "kgo.transit.FarePaid.v1",
        "ce_time": "2022-06-10T08:40:00+07:00",
        "ce_subject": str(example.wallet_id),  # type: ignore[attr-defined]
        "content-type": "application/json",
    }


def test_header_time_is_written_in_khon_kaen_time() -> None:
    example = examples_of(BY_CE_TYPE["kgo.transit.FarePaid.v1"])[0]
    in_utc = type(example).model_validate(
        {**example.model_dump(), "occurred_at": "2022-06-10T01:40:00+00:00"}
    )
    assert in_utc.ce_headers("x")["ce_time"] == "2022-06-10T08:40:00+07:00"
