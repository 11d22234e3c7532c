"""Domain errors to HTTP statuses: the one table of them."""

from __future__ import annotations

from kgo_runtime.problems import ProblemError

from ...domain.errors import TransitError

STATUS: dict[str, int] = {
    "not_found": 404,
    "not_denied": 404,
    "already_exists": 409,
    "invalid_schedule": 422,
    "idempotency_key_reused": 409,
    "wallet_unavailable": 503,
    "contention": 503,
}


def problem_of(error: TransitError) -> ProblemError:
    status = STATUS.get(error.code, 409)  # a wallet refusal keeps its own code
    headers = {"Retry-After": "1"} if status == 503 else None
    return ProblemError(status, error.code, error.detail, headers=headers)
