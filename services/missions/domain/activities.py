"""Municipal activities (a festival, a clean-up day, a workshop) and residents' check-ins.

An activity has a window and a check-in code: fixed, or rotating every ``rotate_seconds``
(the code shown on a screen changes; the one just before is still accepted, so a resident
scanning at the turn is not refused). Codes are derived from a secret kept in the missions
event store; they never travel on Kafka.

A check-in is its own aggregate with the id ``ids.check_in_id(activity, wallet)``: a
resident's second check-in conflicts on save whichever process tries it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import ActivityNotOpen, CheckInCodeInvalid, InvalidActivity

CODE_DIGITS = 8
CheckInMethod = Literal["code", "operator"]


class Activity(Aggregate):
    TOPIC = "kgo.missions.Activity"

    class Created(Aggregate.Created):
        TOPIC = "kgo.missions.Activity.Created"

    class Scheduled(Aggregate.Created):
        TOPIC = "kgo.missions.Activity.Scheduled"
        mission_id: UUID
        code: str
        title_th: str
        title_en: str
        reward: int
        programme: str
        starts_at: datetime
        ends_at: datetime
        rotate_seconds: int
        secret: str
        by: str
        occurred_at: datetime

    def __init__(
        self,
        mission_id: UUID,
        code: str,
        title_th: str,
        title_en: str,
        reward: int,
        programme: str,
        starts_at: datetime,
        ends_at: datetime,
        rotate_seconds: int,
        secret: str,
        by: str,
        occurred_at: datetime,
    ) -> None:
        self.mission_id = mission_id
        self.code = code
        self.title_th = title_th
        self.title_en = title_en
        self.reward = reward
        self.programme = programme
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.rotate_seconds = rotate_seconds
        self.secret = secret
        self.scheduled_by = by
        self.scheduled_at = occurred_at

    @classmethod
    def schedule(cls, activity_id: UUID, **fields: Any) -> Activity:
        if fields["ends_at"] <= fields["starts_at"]:
            raise InvalidActivity("ends_at must be after starts_at")
        if fields["rotate_seconds"] < 0:
            raise InvalidActivity("rotate_seconds: 0 (a fixed code) or more")
        if len(fields["secret"]) < 32:
            raise InvalidActivity("the activity's secret is too short")
        return cls._create(cls.Scheduled, id=activity_id, **fields)

    # --- codes -----------------------------------------------------------------------------

    def _slot(self, at: datetime) -> int:
        return int(at.timestamp()) // self.rotate_seconds if self.rotate_seconds else 0

    def _code(self, slot: int) -> str:
        digest = hmac.new(bytes.fromhex(self.secret), f"slot:{slot}".encode(), hashlib.sha256)
        return str(int.from_bytes(digest.digest()[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)

    def code_at(self, at: datetime) -> tuple[str, datetime | None]:
        """The code to show at ``at``, and when it stops being the current one."""
        slot = self._slot(at)
        if not self.rotate_seconds:
            return self._code(0), None
        until = datetime.fromtimestamp((slot + 1) * self.rotate_seconds, tz=at.tzinfo)
        return self._code(slot), until

    def open_at(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def attended_at(self, recorded_at: datetime) -> datetime:
        """When an attendee an operator records now attended: now if the activity is on,
        else its last second (the list of a festival is paid after it). Never before it."""
        if recorded_at < self.starts_at:
            raise ActivityNotOpen(f"the activity starts at {self.starts_at.isoformat()}")
        return min(recorded_at, self.ends_at - timedelta(seconds=1))

    def check_code(self, code: str, at: datetime) -> None:
        """Refuses a check-in outside the window or with a code that is not (or no longer)
        this activity's."""
        if not self.open_at(at):
            raise ActivityNotOpen(
                f"check-in is open from {self.starts_at.isoformat()} to {self.ends_at.isoformat()}"
            )
        slot = self._slot(at)
        accepted = (
            {self._code(slot), self._code(slot - 1)} if self.rotate_seconds else {self._code(0)}
        )
        if not any(hmac.compare_digest(code, good) for good in accepted):
            raise CheckInCodeInvalid("this is not the activity's current check-in code")


class CheckIn(Aggregate):
    TOPIC = "kgo.missions.CheckIn"

    class Created(Aggregate.Created):
        TOPIC = "kgo.missions.CheckIn.Created"

    class CheckedIn(Aggregate.Created):
        TOPIC = "kgo.missions.CheckIn.CheckedIn"
        activity_id: UUID
        wallet_id: UUID
        method: str
        by: str
        occurred_at: datetime

    def __init__(
        self, activity_id: UUID, wallet_id: UUID, method: str, by: str, occurred_at: datetime
    ) -> None:
        self.activity_id = activity_id
        self.wallet_id = wallet_id
        self.method = method
        self.by = by
        self.occurred_at = occurred_at

    @classmethod
    def record(
        cls,
        check_in_id: UUID,
        activity: Activity,
        wallet_id: UUID,
        *,
        method: CheckInMethod,
        by: str,
        at: datetime,
    ) -> CheckIn:
        return cls._create(
            cls.CheckedIn,
            id=check_in_id,
            activity_id=activity.id,
            wallet_id=wallet_id,
            method=method,
            by=by,
            occurred_at=at,
        )
