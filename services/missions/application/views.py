"""The answers of commands and queries as plain JSON values (what receipts store and the API
returns)."""

from __future__ import annotations

from typing import Any

from ..domain.activities import Activity, CheckIn
from ..domain.catalogue import Mission
from ..domain.progress import Completion, MissionStanding


def mission_body(mission: Mission) -> dict[str, Any]:
    return {
        "mission_id": str(mission.mission_id),
        "revision": mission.revision,
        "builtin": mission.builtin,
        "retired_at": mission.retired_at.isoformat() if mission.retired_at else None,
        **mission.spec.data(),
    }


def completion_body(completion: Completion) -> dict[str, Any]:
    return {
        "completion_id": str(completion.completion_id),
        "mission_id": str(completion.mission_id),
        "mission_revision": completion.mission_revision,
        "campaign": completion.campaign,
        "programme": completion.programme,
        "period": completion.period,
        "requested_reward": completion.requested_reward,
        "reward": completion.reward,
        "cut_reason": completion.cut_reason,
        "occurred_at": completion.occurred_at.isoformat(),
    }


def standing_body(found: MissionStanding) -> dict[str, Any]:
    spec = found.mission.spec
    return {
        "mission_id": str(found.mission.mission_id),
        "code": spec.code,
        "title_th": spec.title_th,
        "title_en": spec.title_en,
        "reward": spec.reward,
        "rule": spec.rule.model_dump(mode="json"),
        "period": found.period,
        "progress": {"have": found.standing.have, "need": found.standing.need},
        "completed": found.completed,
        "limit": spec.limit,
    }


def activity_body(activity: Activity) -> dict[str, Any]:
    return {
        "activity_id": str(activity.id),
        "mission_id": str(activity.mission_id),
        "code": activity.code,
        "title_th": activity.title_th,
        "title_en": activity.title_en,
        "reward": activity.reward,
        "programme": activity.programme,
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": activity.ends_at.isoformat(),
        "rotating": activity.rotate_seconds > 0,
        "rotate_seconds": activity.rotate_seconds,
    }


def check_in_body(check_in: CheckIn, completions: list[Completion]) -> dict[str, Any]:
    return {
        "check_in_id": str(check_in.id),
        "activity_id": str(check_in.activity_id),
        "wallet_id": str(check_in.wallet_id),
        "method": check_in.method,
        "checked_in_at": check_in.occurred_at.isoformat(),
        "completion": completion_body(completions[0]) if completions else None,
    }
