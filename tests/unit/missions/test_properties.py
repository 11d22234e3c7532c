"""Properties of the rule engine and the welcome cap over random event streams: never past
400 KGO from the welcome campaign, never a completion twice, and the same completions and the
same total paid whatever the cross-topic interleaving, duplicates included."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid5

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgo_contracts.base import ContractEvent
from kgo_contracts.missions import MissionCompleted, MissionRewardCapped
from kgo_runtime.envelope import decode, encode
from services.missions.adapters.contracts import to_contract
from services.missions.application import commands as c
from services.missions.application.service import MissionsApplication
from services.missions.entrypoints.consumer import fact_of

from .conftest import T0, fare, mission_spec, opened, redeemed

pytestmark = pytest.mark.unit

NS = UUID("9a0f4c1e-0000-4000-8000-000000000000")
WALLETS = [uuid5(NS, f"wallet-{n}") for n in range(3)]
SHOPS = [uuid5(NS, f"shop-{n}") for n in range(4)]
CATALOGUE = [
    {"reward": 70, "period": "daily", "limit": 2,
     "rule": {"kind": "count", "event": "fare_paid", "count": 3}},
    {"reward": 90, "period": "weekly", "limit": 1, "rule": {"kind": "distinct_shops", "shops": 2}},
    {"reward": 50, "period": "once", "limit": 1,
     "rule": {"kind": "first_time", "event": "discount_redeemed"}},
    {"reward": 25, "period": "daily", "limit": 3, "campaign": "city-life",
     "rule": {"kind": "count", "event": "fare_paid", "count": 1}},
]  # fmt: skip


def new_missions() -> MissionsApplication:
    missions = MissionsApplication()
    for n, spec in enumerate(CATALOGUE):
        missions.execute(
            c.PublishMission(
                idempotency_key=f"m{n}", caller="admin", at=T0,
                spec=mission_spec(code=f"m-{n}", **spec),
            )
        )  # fmt: skip
    return missions


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[str, ContractEvent]]:
    """Records as (ce_id, event); some delivered twice, later, under the same ce_id."""
    events: list[tuple[str, ContractEvent]] = []
    for n in range(draw(st.integers(1, 40))):
        wallet = draw(st.sampled_from(WALLETS))
        at = T0 + timedelta(minutes=draw(st.integers(0, 60 * 24 * 9)))
        kind = draw(st.sampled_from(["opened", "fare", "fare", "shop"]))
        if kind == "opened":
            event: ContractEvent = opened(wallet, at)
        elif kind == "fare":
            event = fare(wallet, at)
        else:
            event = redeemed(wallet, draw(st.sampled_from(SHOPS)), at)
        events.append((f"ce-{n}", event))
    repeats = draw(st.lists(st.sampled_from(events), max_size=8))
    return events + repeats


def replay(missions: MissionsApplication, records: list[tuple[str, ContractEvent]]) -> None:
    for ce_id, event in records:
        record = encode(event, ce_id=ce_id, source="/kgo/test")
        found = fact_of(decode(record.headers, record.value))
        if found is not None:
            missions.observe(*found)


def published(missions: MissionsApplication) -> list[ContractEvent]:
    notifications = missions.recorder.select_notifications(start=1, limit=1_000_000)
    out = [to_contract(missions.mapper.to_domain_event(n)) for n in notifications]
    return [e for e in out if isinstance(e, MissionCompleted | MissionRewardCapped)]


def paid(missions: MissionsApplication, campaign: str) -> dict[UUID, int]:
    return {
        w: sum(d.reward for d in missions.completions(w) if d.campaign == campaign) for w in WALLETS
    }


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=streams(), order=st.randoms(use_true_random=False))
def test_never_past_the_cap_never_twice_and_the_same_in_any_order(records, order) -> None:
    first = new_missions()
    replay(first, records)
    shuffled = list(records)
    order.shuffle(shuffled)
    second = new_missions()
    replay(second, shuffled)

    for missions in (first, second):
        events = published(missions)
        ids = [e.completion_id for e in events]  # type: ignore[attr-defined]
        assert len(ids) == len(set(ids)), "a completion was recorded twice"
        assert all(e.reward > 0 for e in events if isinstance(e, MissionCompleted))
        assert all(total <= 400 for total in paid(missions, "welcome").values())

    def completions(m: MissionsApplication) -> set[tuple[UUID, int]]:
        return {(d.completion_id, d.requested_reward) for w in WALLETS for d in m.completions(w)}

    assert completions(first) == completions(second)
    assert paid(first, "welcome") == paid(second, "welcome")
    assert paid(first, "city-life") == paid(second, "city-life")
    for wallet in WALLETS:  # the cap is exactly min(400, what was asked)
        asked = sum(
            d.requested_reward for d in first.completions(wallet) if d.campaign == "welcome"
        )
        assert paid(first, "welcome")[wallet] == min(400, asked)
