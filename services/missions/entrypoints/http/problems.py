"""Missions' errors as problems: the shared convention (:mod:`kgo_runtime.problems`) plus one
table from each domain error code to its HTTP status."""

from __future__ import annotations

from typing import Any

from kgo_runtime.problems import ProblemError, problem_responses

from ...domain.errors import MissionsError

#: Domain error code -> HTTP status. A code not listed answers 409.
STATUS: dict[str, int] = {
    "invalid_mission": 422,
    "invalid_activity": 422,
    "mission_not_found": 404,
    "activity_not_found": 404,
    "resident_unknown": 404,
    "forbidden": 403,
    "too_many_attempts": 429,
    "mission_retired": 409,
    "mission_not_open": 409,
    "mission_not_manual": 409,
    "mission_limit_reached": 409,
    "activity_not_open": 409,
    "check_in_code_invalid": 409,
    "already_checked_in": 409,
    "idempotency_key_reused": 409,
}


def problem_of(error: MissionsError, *, replayed: bool = False) -> ProblemError:
    status = STATUS.get(error.code, 409)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if status == 429:
        headers["Retry-After"] = "60"
    return ProblemError(status, error.code, error.reason, headers=headers or None)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(
    {
        400: "Malformed JSON, or a missing or malformed Idempotency-Key",
        401: "No token, or an unknown, expired or revoked one (`unauthenticated`)",
        403: "The token's role or programme may not do this (`forbidden`)",
        404: "No such mission, activity or resident (`mission_not_found`, ...)",
        409: "Refused: `activity_not_open`, `check_in_code_invalid`, `already_checked_in`, "
        "`mission_retired`, `mission_limit_reached`, `idempotency_key_reused`, ...",
        415: "The body is not JSON (`unsupported_media_type`)",
        422: "The request does not match the schema (`invalid_request`), or the mission or "
        "activity is not valid (`invalid_mission`, `invalid_activity`)",
        429: "Too many wrong check-in codes (`too_many_attempts`, with Retry-After)",
        503: "Starting, or the store is down: retry with the same key",
    }
)
