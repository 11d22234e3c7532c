"""The missions API in memory, built by the bootstrap: roles, programme scopes, idempotency,
problem+json, and the check-in refusals (outside the window, reused, guessed, rate-limited)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from kgo_runtime.access import Role
from services.missions.application.service import MissionsApplication
from services.missions.domain.ids import SIGNUP_MISSION_ID

from .conftest import T0, Api, ConsumerHarness, mission_spec, opened

pytestmark = pytest.mark.unit

ACTIVITY = {
    "code": "clean-up-day", "title_th": "วันทำความสะอาด", "title_en": "Clean-up day",
    "reward": 30, "starts_at": (T0 + timedelta(hours=1)).isoformat(),
    "ends_at": (T0 + timedelta(hours=5)).isoformat(), "rotate_seconds": 300,
}  # fmt: skip


async def test_publish_is_idempotent_and_scoped_to_the_operators_programme(api: Api) -> None:
    welcome_op = api.token(Role.PROGRAMME_OPERATOR, "welcome")
    spec = mission_spec()
    first = await api.post("/v1/missions", spec, welcome_op, key="p1")
    again = await api.post("/v1/missions", spec, welcome_op, key="p1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    other = await api.post("/v1/missions", spec | {"reward": 1}, welcome_op, key="p1")
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")

    bus_op = api.token(Role.PROGRAMME_OPERATOR, "one-baht-bus-2022")
    refused = await api.post("/v1/missions", mission_spec(), bus_op)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert refused.headers["content-type"] == "application/problem+json"

    mission_id = first.json()["mission_id"]
    changed = await api.post(f"/v1/missions/{mission_id}/retire", {"reason": "x"}, bus_op)
    assert changed.status_code == 403


async def test_roles_and_validation(api: Api) -> None:
    auditor, resident = api.token(Role.AUDITOR), api.token(Role.RESIDENT, str(uuid4()))
    assert (await api.post("/v1/missions", mission_spec(), auditor)).status_code == 403
    assert (await api.post("/v1/missions", mission_spec(), resident)).status_code == 403
    listed = await api.client.get("/v1/missions", headers=auditor)
    assert [m["mission_id"] for m in listed.json()] == [str(SIGNUP_MISSION_ID)]
    assert (await api.client.get("/v1/missions")).status_code == 401
    no_key = await api.client.post("/v1/missions", json=mission_spec(), headers=api.admin())
    assert no_key.json()["code"] == "idempotency_key_required"
    bad_rule = mission_spec(rule={"kind": "count", "event": "fare_paid", "count": -1})
    invalid = await api.post("/v1/missions", bad_rule, api.admin())
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_request")
    signup = await api.post("/v1/missions", mission_spec(rule={"kind": "signup"}, period="once"),
                            api.admin())  # fmt: skip
    assert (signup.status_code, signup.json()["code"]) == (422, "invalid_mission")


async def test_change_retire_and_manual_award(
    api: Api, missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    wallet = uuid4()
    await harness.feed(opened(wallet))
    spec = mission_spec(rule={"kind": "manual"}, reward=40, limit=1, period="once")
    mission_id = (await api.post("/v1/missions", spec, api.admin())).json()["mission_id"]
    changed = await api.client.patch(
        f"/v1/missions/{mission_id}", json={"reward": 45},
        headers=api.admin() | {"Idempotency-Key": "c1"},
    )  # fmt: skip
    assert (changed.status_code, changed.json()["revision"]) == (200, 2)
    award = {"wallet_id": str(wallet), "reason": "helped-at-the-flood-centre"}
    first = await api.post(f"/v1/missions/{mission_id}/awards", award, api.admin())
    assert (first.status_code, first.json()["reward"]) == (201, 45)
    second = await api.post(f"/v1/missions/{mission_id}/awards", award, api.admin())
    assert (second.status_code, second.json()["code"]) == (409, "mission_limit_reached")
    stranger = {"wallet_id": str(uuid4()), "reason": "x"}
    unknown = await api.post(f"/v1/missions/{mission_id}/awards", stranger, api.admin())
    assert (unknown.status_code, unknown.json()["code"]) == (404, "resident_unknown")
    retired = await api.post(f"/v1/missions/{mission_id}/retire", {"reason": "done"}, api.admin())
    assert retired.json()["retired_at"] is not None


async def test_check_in_once_inside_the_window_with_the_current_code(
    api: Api, harness: ConsumerHarness
) -> None:
    wallet = uuid4()
    await harness.feed(opened(wallet))
    me = api.token(Role.RESIDENT, str(wallet))
    created = await api.post("/v1/activities", ACTIVITY, api.admin())
    assert created.status_code == 201, created.text
    activity = created.json()["activity_id"]
    code = (await api.client.get(f"/v1/activities/{activity}/code", headers=api.admin())).json()
    assert code["qr_payload"].endswith(code["code"])
    qr = await api.client.get(f"/v1/activities/{activity}/code.svg", headers=api.admin())
    assert qr.headers["content-type"] == "image/svg+xml" and b"<svg" in qr.content
    path = f"/v1/activities/{activity}/check-ins"

    early = await api.post(path, {"code": code["code"]}, me)
    assert (early.status_code, early.json()["code"]) == (409, "activity_not_open")
    api.clock.advance(hours=2)
    code = (await api.client.get(f"/v1/activities/{activity}/code", headers=api.admin())).json()
    wrong = await api.post(path, {"code": "00000000"}, me)
    assert (wrong.status_code, wrong.json()["code"]) == (409, "check_in_code_invalid")
    done = await api.post(path, {"code": code["qr_payload"]}, me)
    assert done.status_code == 201, done.text
    assert done.json()["completion"]["reward"] == 30
    assert done.json()["completion"]["programme"] == "municipal-activities"
    again = await api.post(path, {"code": code["code"]}, me)
    assert (again.status_code, again.json()["code"]) == (409, "already_checked_in")

    mine = await api.client.get(f"/v1/residents/{wallet}/check-ins", headers=me)
    assert [c["activity_id"] for c in mine.json()] == [activity]
    theirs = await api.client.get(f"/v1/residents/{uuid4()}/missions", headers=me)
    assert theirs.status_code == 403
    progress = (await api.client.get(f"/v1/residents/{wallet}/missions", headers=me)).json()
    assert progress["received"] == {"welcome": 100, "activities": 30}


async def test_guessing_is_rate_limited_and_a_rotated_code_expires(api: Api) -> None:
    wallet = uuid4()
    me = api.token(Role.RESIDENT, str(wallet))
    activity = (await api.post("/v1/activities", ACTIVITY, api.admin())).json()["activity_id"]
    api.clock.advance(hours=2)
    old = (await api.client.get(f"/v1/activities/{activity}/code", headers=api.admin())).json()
    api.clock.advance(minutes=11)  # two rotations later: no longer accepted
    path = f"/v1/activities/{activity}/check-ins"
    stale = await api.post(path, {"code": old["code"]}, me)
    assert stale.json()["code"] == "check_in_code_invalid"
    for guess in range(4):
        assert (await api.post(path, {"code": f"{guess:08d}"}, me)).status_code == 409
    limited = await api.post(path, {"code": "12345678"}, me)
    assert (limited.status_code, limited.json()["code"]) == (429, "too_many_attempts")
    assert "Retry-After" in limited.headers


async def test_attendance_pays_each_resident_once(api: Api, harness: ConsumerHarness) -> None:
    wallet = uuid4()
    await harness.feed(opened(wallet))
    op = api.token(Role.PROGRAMME_OPERATOR, "municipal-activities")
    activity = (await api.post("/v1/activities", ACTIVITY, op)).json()["activity_id"]
    api.clock.advance(hours=2)
    path = f"/v1/activities/{activity}/attendance"
    key = f"award:{activity}:{wallet}"
    first = await api.post(path, {"wallet_id": str(wallet)}, op, key=key)
    retry = await api.post(path, {"wallet_id": str(wallet)}, op, key=key)
    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    other_key = await api.post(path, {"wallet_id": str(wallet)}, op)
    assert other_key.json()["code"] == "already_checked_in"
    unknown = await api.post(path, {"wallet_id": str(uuid4())}, op)
    assert unknown.json()["code"] == "resident_unknown"
    welcome_op = api.token(Role.PROGRAMME_OPERATOR, "welcome")
    assert (await api.post(path, {"wallet_id": str(wallet)}, welcome_op)).status_code == 403
    assert UUID(first.json()["check_in_id"])

    late = uuid4()  # the attendance list is paid the day after the activity
    await harness.feed(opened(late))
    api.clock.advance(days=1)
    after = await api.post(path, {"wallet_id": str(late)}, op)
    assert after.status_code == 201, after.text
    assert after.json()["completion"]["occurred_at"] == "2022-06-09T12:59:59+07:00"


async def test_the_openapi_document_describes_every_route(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    assert document["info"]["title"] == "KGO missions"
    assert "/v1/activities/{activity_id}/check-ins" in document["paths"]
    assert "/v1/residents/{wallet_id}/missions" in document["paths"]
