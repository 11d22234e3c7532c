"""The wallet's errors as problems: the shared convention (:mod:`kgo_runtime.problems`) plus
the ledger's answers.

A refusal decided by the ledger keeps the code of its Outcome (``insufficient_funds``,
``budget_exhausted``, ``idempotency_key_reused``...), and the extra members of its body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from kgo_runtime import problems as shared
from kgo_runtime.problems import (
    IDEMPOTENCY_HEADER,
    PROBLEM_JSON,
    REPLAYED_HEADER,
    STORE_UNAVAILABLE,
    FieldError,
    Problem,
    ProblemError,
    problem_response,
)

from ...application.commands import Outcome

__all__ = [
    "IDEMPOTENCY_HEADER",
    "PROBLEM_JSON",
    "PROBLEM_RESPONSES",
    "REPLAYED_HEADER",
    "STORE_UNAVAILABLE",
    "FieldError",
    "Problem",
    "ProblemError",
    "install_error_handlers",
    "outcome_response",
    "problem_response",
]


def outcome_response(outcome: Outcome) -> Response:
    """The ledger's answer: its body on success, a problem with its code on refusal."""
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
    if outcome.ok:
        return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
    extra: dict[str, Any] = dict(outcome.body)
    code = str(extra.pop("code", "refused"))
    detail = str(extra.pop("reason", shared.title(outcome.status)))
    return problem_response(outcome.status, code, detail, headers=headers, **extra)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem (also /healthz, /metrics...)."""
    shared.install_error_handlers(app, service="wallet")


#: What routes document besides their success (the schema of every problem).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = shared.problem_responses(
    {
        400: "Malformed JSON, or a missing or malformed Idempotency-Key",
        401: "No API token, or an unknown or revoked one (`unauthenticated`)",
        403: "The token's role or subject may not do this (`forbidden`)",
        404: "No such account, budget, hold or token",
        409: "Refused by the ledger, e.g. `insufficient_funds`, `budget_exhausted`, "
        "`already_registered`, `idempotency_key_reused`",
        415: "The body is not JSON (`unsupported_media_type`)",
        422: "The request does not match the schema (`invalid_request`, with `errors`)",
        503: "The wallet is starting or its store is down: retry with the same key",
    }
)
