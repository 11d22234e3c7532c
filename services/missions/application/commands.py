"""Commands someone waits on (an operator publishing a mission, a resident checking in), each
with its idempotency key and caller (the key's scope) and the business time it arrived at."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import orjson


@dataclass(frozen=True, kw_only=True)
class Command:
    name: ClassVar[str]
    idempotency_key: str
    caller: str
    at: datetime
    #: The programme the caller may act for (a programme operator's subject); None: any.
    scope: str | None = None

    def request_hash(self) -> str:
        """What makes two requests with one key the same request (not when they arrived)."""
        body = {k: v for k, v in asdict(self).items() if k not in ("idempotency_key", "at")}
        data = orjson.dumps(body, default=str, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, kw_only=True)
class PublishMission(Command):
    name = "publish_mission"
    spec: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ChangeMission(Command):
    name = "change_mission"
    mission_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class RetireMission(Command):
    name = "retire_mission"
    mission_id: UUID
    reason: str


@dataclass(frozen=True, kw_only=True)
class AwardManually(Command):
    name = "award_manually"
    mission_id: UUID
    wallet_id: UUID
    reason: str


@dataclass(frozen=True, kw_only=True)
class ScheduleActivity(Command):
    name = "schedule_activity"
    code: str
    title_th: str
    title_en: str
    reward: int
    starts_at: datetime
    ends_at: datetime
    rotate_seconds: int = 0
    description_th: str = ""
    description_en: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckInWithCode(Command):
    name = "check_in"
    activity_id: UUID
    wallet_id: UUID
    code: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class RecordAttendance(Command):
    """An operator pays an attendee of an activity (the bulk award, one row at a time)."""

    name = "record_attendance"
    activity_id: UUID
    wallet_id: UUID


@dataclass(frozen=True)
class Outcome:
    """A decided command's answer; ``replayed`` when it is the first answer to the same key."""

    body: dict[str, Any]
    replayed: bool = False
