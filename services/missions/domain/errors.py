"""Domain errors: a refused command with a stable ``code`` and a sentence for humans. The
HTTP edge (``entrypoints/http/problems.py``) maps codes to statuses; nothing here knows HTTP."""

from __future__ import annotations


class MissionsError(Exception):
    code: str = "refused"
    #: True when this refusal is the stored first answer to the same idempotency key.
    replayed: bool = False

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class InvalidMission(MissionsError):
    code = "invalid_mission"


class MissionNotFound(MissionsError):
    code = "mission_not_found"


class MissionRetired(MissionsError):
    code = "mission_retired"


class MissionNotOpen(MissionsError):
    code = "mission_not_open"


class NotManual(MissionsError):
    code = "mission_not_manual"


class ActivityNotFound(MissionsError):
    code = "activity_not_found"


class InvalidActivity(MissionsError):
    code = "invalid_activity"


class ActivityNotOpen(MissionsError):
    code = "activity_not_open"


class CheckInCodeInvalid(MissionsError):
    code = "check_in_code_invalid"


class AlreadyCheckedIn(MissionsError):
    code = "already_checked_in"


class TooManyAttempts(MissionsError):
    code = "too_many_attempts"


class ResidentUnknown(MissionsError):
    code = "resident_unknown"


class IdempotencyConflict(MissionsError):
    code = "idempotency_key_reused"


class LimitReached(MissionsError):
    code = "mission_limit_reached"


class OutOfScope(MissionsError):
    """The caller acts for another programme."""

    code = "forbidden"
