"""What the relay publishes: every stored event maps to its contract or stays internal, and
no check-in code or activity secret ever reaches Kafka."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from kgo_contracts.registry import BY_CE_TYPE
from kgo_runtime.access import Role
from services.missions.adapters.contracts import PUBLISHED, to_contract
from services.missions.application.service import MissionsApplication
from services.missions.domain.activities import Activity

from .conftest import Api, ConsumerHarness, mission_spec, opened
from .test_http import ACTIVITY

pytestmark = pytest.mark.unit


async def test_every_stored_event_maps_and_no_code_is_published(
    api: Api, missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    wallet = uuid4()
    await harness.feed(opened(wallet))
    mission = (await api.post("/v1/missions", mission_spec(), api.admin())).json()["mission_id"]
    await api.client.patch(f"/v1/missions/{mission}", json={"reward": 60},
                           headers=api.admin() | {"Idempotency-Key": "x"})  # fmt: skip
    await api.post(f"/v1/missions/{mission}/retire", {"reason": "over"}, api.admin())
    activity = (await api.post("/v1/activities", ACTIVITY, api.admin())).json()["activity_id"]
    api.clock.advance(hours=2)
    code = (await api.client.get(f"/v1/activities/{activity}/code", headers=api.admin())).json()
    me = api.token(Role.RESIDENT, str(wallet))
    assert (
        await api.post(f"/v1/activities/{activity}/check-ins", {"code": code["code"]}, me)
    ).status_code == 201

    stored = [
        missions.mapper.to_domain_event(n)
        for n in missions.recorder.select_notifications(start=1, limit=10_000)
    ]
    assert {type(e) for e in stored} <= set(PUBLISHED)
    contracts = [c for c in map(to_contract, stored) if c is not None]
    types = sorted({c.ce_type() for c in contracts})
    assert types == sorted(
        f"kgo.missions.{name}.v1"
        for name in ("MissionCompleted", "MissionPublished", "MissionChanged", "MissionRetired",
                     "ActivityScheduled", "ActivityCheckedIn")
    )  # fmt: skip
    activity_state = missions.repository.get(UUID(activity))
    assert isinstance(activity_state, Activity)
    for contract in contracts:
        wire = contract.model_dump_json()
        assert code["code"] not in wire and activity_state.secret not in wire
        assert BY_CE_TYPE[contract.ce_type()].model_validate_json(wire) == contract
