"""Errors as ``application/problem+json`` (RFC 9457), each with a stable ``code``.

A refusal decided by the ledger keeps the code of its Outcome (``insufficient_funds``,
``budget_exhausted``, ``idempotency_key_reused``...), and the extra members of its body.
Validation errors list what is wrong with which field, never the value sent (it may be a
national ID or a phone number).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
import psycopg
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ...application.commands import Outcome

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

#: Codes for errors raised by the framework itself, by status.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    503: "unavailable",
}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail; ``code`` is the stable, machine-readable reason."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raised by routes and dependencies; answered as a problem."""

    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"urn:kgo:problem:{code}",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def outcome_response(outcome: Outcome) -> Response:
    """The ledger's answer: its body on success, a problem with its code on refusal."""
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
    if outcome.ok:
        return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
    extra = dict(outcome.body)
    code = str(extra.pop("code", "refused"))
    detail = str(extra.pop("reason", _title(outcome.status)))
    return problem_response(outcome.status, code, detail, headers=headers, **extra)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem (also /healthz, /metrics...)."""
    app.add_exception_handler(ProblemError, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_store_unavailable)
    app.add_exception_handler(Exception, _on_crash)


#: Errors that mean the database cannot be reached right now, not that the request is wrong.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
    psycopg.OperationalError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)


async def _on_store_unavailable(request: Request, error: Exception) -> Response:
    log.warning(
        "store unavailable: %s on %s %s", type(error).__name__, request.method, request.url.path
    )
    return problem_response(
        503, "store_unavailable",
        "the wallet's database cannot be reached; retry with the same Idempotency-Key",
        headers={"Retry-After": "1"},
    )  # fmt: skip


#: What routes document besides their success (the schema of every problem).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in {
        400: "Malformed JSON, or a missing or malformed Idempotency-Key",
        401: "No API token, or an unknown or revoked one (`unauthenticated`)",
        403: "The token's role or subject may not do this (`forbidden`)",
        404: "No such account, budget, hold or token",
        409: "Refused by the ledger, e.g. `insufficient_funds`, `budget_exhausted`, "
        "`already_registered`, `idempotency_key_reused`",
        415: "The body is not JSON (`unsupported_media_type`)",
        422: "The request does not match the schema (`invalid_request`, with `errors`)",
        503: "The wallet is starting or its store is down: retry with the same key",
    }.items()
}


async def _on_problem(_request: Request, error: ProblemError) -> Response:
    return problem_response(error.status, error.code, error.detail, headers=error.headers)


async def _on_invalid(_request: Request, error: RequestValidationError) -> Response:
    errors = error.errors()
    for item in errors:
        if tuple(item.get("loc", ())) == ("header", IDEMPOTENCY_HEADER):
            return _idempotency_key_problem(missing=item.get("type") == "missing")
        if item.get("type") == "json_invalid":
            reason = item.get("ctx", {}).get("error", "cannot parse")
            where = item["loc"][-1] if item.get("loc") else "?"
            detail = f"the body is not valid JSON: {reason} (at character {where})"
            return problem_response(400, "malformed_json", detail)
    listed = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    return problem_response(
        422, "invalid_request", "the request does not match the API's schema", errors=listed
    )


def _idempotency_key_problem(*, missing: bool) -> Response:
    if missing:
        return problem_response(
            400, "idempotency_key_required", "every write needs an Idempotency-Key header"
        )
    return problem_response(
        400, "invalid_idempotency_key", "an Idempotency-Key is 1 to 128 visible ASCII characters"
    )


async def _on_http(_request: Request, error: HTTPException) -> Response:
    code = _HTTP_CODES.get(error.status_code, _title(error.status_code).lower().replace(" ", "_"))
    detail = error.detail if isinstance(error.detail, str) else _title(error.status_code)
    return problem_response(error.status_code, code, detail, headers=error.headers)


async def _on_crash(request: Request, error: Exception) -> Response:
    # The frames are logged, not the exception's text: it might quote personal data.
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error(
        "unhandled %s on %s %s\n%s",
        type(error).__name__, request.method, request.url.path, frames,
    )  # fmt: skip
    return problem_response(500, "internal_error", "the wallet could not answer this request")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
