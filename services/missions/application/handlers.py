"""One handler per command: load, decide (the domain refuses with a coded error), and put
what changed into the unit the application saves with the command's receipt."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ..domain.activities import Activity, CheckIn
from ..domain.catalogue import validated_spec
from ..domain.errors import (
    AlreadyCheckedIn,
    CheckInCodeInvalid,
    LimitReached,
    MissionNotOpen,
    NotManual,
    OutOfScope,
    ResidentUnknown,
)
from ..domain.facts import Fact, FactKind
from ..domain.ids import MISSIONS_NAMESPACE, activity_mission_id, check_in_id, fact_id_of_award
from ..domain.rules import ManualRule
from . import commands as c
from .views import activity_body, check_in_body, completion_body, mission_body

if TYPE_CHECKING:
    from .service import MissionsApplication

Body = dict[str, Any]


class Unit:
    """The aggregates one command changed; saved together with its receipt."""

    def __init__(self) -> None:
        self.changed: list[Aggregate] = []

    def add(self, *aggregates: Aggregate) -> None:
        self.changed.extend(aggregates)


def _new_id(kind: str, cmd: c.Command) -> UUID:
    """The id of a thing a command creates: the same for a retry with the same key."""
    return uuid5(MISSIONS_NAMESPACE, f"{kind}:{cmd.caller}:{cmd.idempotency_key}")


def _in_scope(cmd: c.Command, programme: str) -> None:
    if cmd.scope is not None and cmd.scope != programme:
        raise OutOfScope(f"this token acts for programme {cmd.scope!r} only")


def publish(app: MissionsApplication, cmd: c.PublishMission, unit: Unit) -> Body:
    spec = validated_spec(cmd.spec)
    _in_scope(cmd, spec.programme)
    catalogue = app.catalogue()
    mission = catalogue.publish(_new_id("mission", cmd), spec, by=cmd.caller, at=cmd.at)
    unit.add(catalogue)
    return mission_body(mission)


def change(app: MissionsApplication, cmd: c.ChangeMission, unit: Unit) -> Body:
    catalogue = app.catalogue()
    mission = catalogue.mission(cmd.mission_id)
    _in_scope(cmd, mission.spec.programme)
    spec = validated_spec(mission.spec.data() | cmd.changes)
    _in_scope(cmd, spec.programme)
    unit.add(catalogue)
    return mission_body(catalogue.change(cmd.mission_id, spec, by=cmd.caller, at=cmd.at))


def retire(app: MissionsApplication, cmd: c.RetireMission, unit: Unit) -> Body:
    catalogue = app.catalogue()
    _in_scope(cmd, catalogue.mission(cmd.mission_id).spec.programme)
    unit.add(catalogue)
    return mission_body(catalogue.retire(cmd.mission_id, cmd.reason, by=cmd.caller, at=cmd.at))


def award(app: MissionsApplication, cmd: c.AwardManually, unit: Unit) -> Body:
    mission = app.mission(cmd.mission_id)
    _in_scope(cmd, mission.spec.programme)
    if not isinstance(mission.spec.rule, ManualRule):
        raise NotManual("only a mission with a manual rule is awarded by hand")
    progress = app.progress(cmd.wallet_id)
    if not progress.registered:
        raise ResidentUnknown(f"no resident {cmd.wallet_id} is known to missions")
    period = mission.spec.period.key(cmd.at)
    if progress.standing(mission, period).completed >= mission.spec.limit:
        raise LimitReached(f"this resident has this mission {mission.spec.limit}x in {period}")
    fact = Fact(
        fact_id_of_award(cmd.mission_id, cmd.wallet_id, f"{cmd.caller}:{cmd.idempotency_key}"),
        FactKind.MANUAL_AWARD, cmd.at, mission_id=cmd.mission_id, reason=cmd.reason,
    )  # fmt: skip
    if not mission.active or not mission.spec.open_at(cmd.at):
        raise MissionNotOpen("this mission is retired or outside its window")
    done = progress.observe(fact, [mission], app.policy.campaigns)
    if not done:
        raise LimitReached("this award completes nothing more for this resident")
    unit.add(progress)
    return {"wallet_id": str(cmd.wallet_id), "reason": cmd.reason, **completion_body(done[0])}


def schedule(app: MissionsApplication, cmd: c.ScheduleActivity, unit: Unit) -> Body:
    policy = app.policy
    _in_scope(cmd, policy.activities_programme)
    activity_id = _new_id("activity", cmd)
    mission_id = activity_mission_id(activity_id)
    activity = Activity.schedule(
        activity_id, mission_id=mission_id, code=cmd.code, title_th=cmd.title_th,
        title_en=cmd.title_en, reward=cmd.reward, programme=policy.activities_programme,
        starts_at=cmd.starts_at, ends_at=cmd.ends_at, rotate_seconds=cmd.rotate_seconds,
        secret=secrets.token_hex(32), by=cmd.caller, occurred_at=cmd.at,
    )  # fmt: skip
    spec = validated_spec(
        {
            "code": f"activity-{cmd.code}"[:40], "title_th": cmd.title_th,
            "title_en": cmd.title_en, "description_th": cmd.description_th,
            "description_en": cmd.description_en, "reward": cmd.reward,
            "starts_at": cmd.starts_at, "ends_at": cmd.ends_at, "period": "once", "limit": 1,
            "campaign": policy.activities_campaign, "programme": policy.activities_programme,
            "rule": {"kind": "check_in", "activity_id": str(activity_id)},
        }
    )  # fmt: skip
    catalogue = app.catalogue()
    catalogue.publish(mission_id, spec, by=cmd.caller, at=cmd.at)
    unit.add(activity, catalogue)
    return activity_body(activity)


def _check_in(
    app: MissionsApplication, cmd: c.CheckInWithCode | c.RecordAttendance, unit: Unit,
    activity: Activity, method: str, at: datetime,
) -> Body:  # fmt: skip
    cid = check_in_id(activity.id, cmd.wallet_id)
    if app.find(cid, CheckIn) is not None:
        raise AlreadyCheckedIn("this resident has already checked in at this activity")
    check_in = CheckIn.record(
        cid, activity, cmd.wallet_id, method="code" if method == "code" else "operator",
        by=cmd.caller, at=cmd.at,
    )  # fmt: skip
    progress = app.progress(cmd.wallet_id)
    fact = Fact(str(cid), FactKind.CHECKED_IN, at, activity_id=activity.id)
    done = progress.observe(fact, app.all_missions(), app.policy.campaigns)
    unit.add(check_in, progress)
    return check_in_body(check_in, [d for d in done if d.mission_id == activity.mission_id])


def check_in(app: MissionsApplication, cmd: c.CheckInWithCode, unit: Unit) -> Body:
    activity = app.activity(cmd.activity_id)
    app.limiter.check(cmd.wallet_id, activity.id, cmd.at)
    try:
        activity.check_code(cmd.code, cmd.at)
    except CheckInCodeInvalid:
        app.limiter.failed(cmd.wallet_id, activity.id, cmd.at)
        raise
    return _check_in(app, cmd, unit, activity, "code", cmd.at)


def attend(app: MissionsApplication, cmd: c.RecordAttendance, unit: Unit) -> Body:
    activity = app.activity(cmd.activity_id)
    _in_scope(cmd, activity.programme)
    if not app.progress(cmd.wallet_id).registered:
        raise ResidentUnknown(f"no resident {cmd.wallet_id} is known to missions")
    return _check_in(app, cmd, unit, activity, "operator", activity.attended_at(cmd.at))


HANDLERS: dict[type[c.Command], Callable[[MissionsApplication, Any, Unit], Body]] = {
    c.PublishMission: publish,
    c.ChangeMission: change,
    c.RetireMission: retire,
    c.AwardManually: award,
    c.ScheduleActivity: schedule,
    c.CheckInWithCode: check_in,
    c.RecordAttendance: attend,
}
