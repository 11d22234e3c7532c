"""The rule engine and the welcome cap, through the consumer's own dispatch (in memory).

Story: residents open wallets, ride the bus and spend at shops; the municipality runs a
"five rides a day" mission, a "three shops a week" mission and a "first ride" mission, all in
the welcome campaign, whose cap is 400 KGO per resident including the 100 KGO sign-up bonus.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from kgo_contracts.examples import examples
from kgo_contracts.examples_missions import examples as mission_examples
from services.missions.application import commands as c
from services.missions.application.service import MissionsApplication
from services.missions.domain.errors import InvalidMission
from services.missions.domain.ids import SIGNUP_MISSION_ID, completion_id

from .conftest import T0, ConsumerHarness, fare, mission_spec, opened, redeemed

pytestmark = pytest.mark.unit


def publish(missions: MissionsApplication, **spec: object) -> UUID:
    out = missions.execute(
        c.PublishMission(
            idempotency_key=str(uuid4()), caller="municipal_admin:test", at=T0,
            spec=mission_spec(**spec),
        )
    )  # fmt: skip
    return UUID(out.body["mission_id"])


def paid(missions: MissionsApplication, wallet: UUID) -> list[tuple[UUID, int]]:
    return [(d.mission_id, d.reward) for d in missions.completions(wallet)]


async def test_registration_earns_the_welcome_bonus_exactly_once(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    wallet = uuid4()
    event = opened(wallet)
    await harness.feed(event, "ce-1")
    await harness.feed(event, "ce-1")  # redelivered: the inbox drops it
    await harness.feed(event, "ce-1", inbox=False)  # past the inbox: the fact is known
    [done] = missions.completions(wallet)
    assert (done.mission_id, done.reward, done.programme) == (SIGNUP_MISSION_ID, 100, "welcome")
    assert done.completion_id == completion_id(wallet, SIGNUP_MISSION_ID, "once")
    assert harness.duplicates == 1


async def test_shops_buses_and_budgets_earn_no_signup_bonus(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    shop = uuid4()
    await harness.feed(opened(shop).model_copy(update={"account_kind": "shop"}))
    assert missions.completions(shop) == []


async def test_five_rides_a_day_judged_at_each_tap_time_whatever_the_arrival_order(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    rides = publish(missions, reward=20, limit=1, period="daily")
    wallet = uuid4()
    await harness.feed(opened(wallet))
    day_one = [T0 + timedelta(hours=h) for h in (1, 2, 3, 4)]
    for at in reversed(day_one):
        await harness.feed(fare(wallet, at))
    await harness.feed(fare(wallet, T0 + timedelta(days=1)))  # the next day counts there
    assert (rides, 20) not in paid(missions, wallet)
    await harness.feed(fare(wallet, T0 + timedelta(minutes=30)))  # late, but on day one
    assert paid(missions, wallet).count((rides, 20)) == 1
    [done] = [d for d in missions.completions(wallet) if d.mission_id == rides]
    assert done.period == "2022-06-09"
    assert done.occurred_at == T0 + timedelta(hours=4)  # the fifth tap, in tap time
    for extra in range(3):  # more rides that day: limit 1 a day
        await harness.feed(fare(wallet, T0 + timedelta(hours=5, minutes=extra)))
    assert paid(missions, wallet).count((rides, 20)) == 1


async def test_distinct_shops_and_first_time(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    shops = publish(
        missions, reward=30, period="weekly", rule={"kind": "distinct_shops", "shops": 3}
    )
    first = publish(
        missions, reward=10, period="once", rule={"kind": "first_time", "event": "fare_paid"}
    )
    wallet, a, b, c_ = uuid4(), uuid4(), uuid4(), uuid4()
    await harness.feed(opened(wallet))
    for shop in (a, a, b, b):
        await harness.feed(redeemed(wallet, shop, T0 + timedelta(hours=1)))
    assert (shops, 30) not in paid(missions, wallet)
    await harness.feed(redeemed(wallet, c_, T0 + timedelta(hours=2)))
    await harness.feed(fare(wallet, T0 + timedelta(hours=3)))
    await harness.feed(fare(wallet, T0 + timedelta(hours=4)))
    assert sorted(r for m, r in paid(missions, wallet) if m in (shops, first)) == [10, 30]


async def test_the_welcome_cap_cuts_and_records_never_drops(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    rides = publish(missions, reward=120, limit=1, period="daily",
                    rule={"kind": "count", "event": "fare_paid", "count": 1})  # fmt: skip
    wallet = uuid4()
    await harness.feed(opened(wallet))
    for day in range(5):
        await harness.feed(fare(wallet, T0 + timedelta(days=day)))
    done = [d for d in missions.completions(wallet) if d.mission_id == rides]
    assert [(d.requested_reward, d.reward, d.cut_reason) for d in done] == [
        (120, 120, None), (120, 120, None), (120, 60, "campaign_cap"),
        (120, 0, "campaign_cap"), (120, 0, "campaign_cap"),
    ]  # fmt: skip
    assert sum(d.reward for d in missions.completions(wallet)) == 400


async def test_a_change_never_rewrites_what_was_earned(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    rides = publish(missions, reward=20, rule={"kind": "count", "event": "fare_paid", "count": 1})
    wallet = uuid4()
    await harness.feed(fare(wallet, T0 + timedelta(hours=1)))
    missions.execute(
        c.ChangeMission(idempotency_key="ch", caller="admin", at=T0, mission_id=rides,
                        changes={"reward": 40})
    )  # fmt: skip
    await harness.feed(fare(wallet, T0 + timedelta(days=1)))
    done = [(d.reward, d.mission_revision) for d in missions.completions(wallet)]
    assert done == [(20, 1), (40, 2)]
    missions.execute(
        c.RetireMission(idempotency_key="rt", caller="admin", at=T0, mission_id=rides, reason="x")
    )
    await harness.feed(fare(wallet, T0 + timedelta(days=2)))
    assert len(missions.completions(wallet)) == 2


def test_rules_are_validated_at_publish_time(missions: MissionsApplication) -> None:
    bad = [
        {"rule": {"kind": "count", "event": "fare_paid", "count": 0}},
        {"rule": {"kind": "count", "event": "bus_ride", "count": 5}},
        {"rule": {"kind": "first_time", "event": "fare_paid"}, "period": "daily"},
        {"rule": {"kind": "signup"}, "period": "once"},
        {"rule": {"kind": "python", "code": "os.system('rm -rf /')"}},
        {"reward": 0},
        {"ends_at": (T0 - timedelta(days=1)).isoformat()},
    ]
    for overrides in bad:
        with pytest.raises(InvalidMission):
            publish(missions, **overrides)


async def test_every_contract_example_goes_through_the_dispatch(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    """The contract examples of every topic, fed as the broker would deliver them."""
    for event in [*examples(), *mission_examples()]:
        await harness.feed(event)
    from kgo_contracts.examples import RESIDENT

    assert [d.mission_id for d in missions.completions(RESIDENT)] == [SIGNUP_MISSION_ID]


async def test_retiring_closes_the_window_at_its_business_time(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    """A ride taken before the retirement still counts when it arrives late; one taken after
    does not. Replaying the topics later judges both the same way."""
    rides = publish(missions, reward=20, rule={"kind": "count", "event": "fare_paid", "count": 1})
    retired_at = T0 + timedelta(days=2)
    missions.execute(
        c.RetireMission(idempotency_key="rt", caller="admin", at=retired_at, mission_id=rides,
                        reason="campaign-over")
    )  # fmt: skip
    wallet = uuid4()
    await harness.feed(fare(wallet, retired_at + timedelta(hours=1)))
    await harness.feed(fare(wallet, retired_at - timedelta(hours=1)))  # late, but before
    done = [d.period for d in missions.completions(wallet) if d.mission_id == rides]
    assert done == ["2022-06-11"]
