"""Errors as ``application/problem+json`` (RFC 9457), each with a stable ``code``: the one
convention every KGO service answers errors with.

A service installs :func:`install_error_handlers` and raises :class:`ProblemError` (or maps
its domain errors to one in ``entrypoints/http/problems.py``). Validation errors list what is
wrong with which field, never the value sent (it may be a national ID or a phone number).
A database that cannot be reached answers 503 ``store_unavailable`` with ``Retry-After``.
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
    """Raised by routes and dependencies; answered as a problem. ``extra`` members go into
    the body beside the standard ones."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers
        self.extra = extra


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
        "title": title(status),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


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


def install_error_handlers(app: FastAPI, *, service: str = "service") -> None:
    """Answer every error of ``app`` as a problem (also /healthz, /metrics...)."""

    async def on_store_unavailable(request: Request, error: Exception) -> Response:
        log.warning(
            "store unavailable: %s on %s %s",
            type(error).__name__, request.method, request.url.path,
        )  # fmt: skip
        return problem_response(
            503, "store_unavailable",
            f"the {service}'s database cannot be reached; retry with the same Idempotency-Key",
            headers={"Retry-After": "1"},
        )  # fmt: skip

    async def on_crash(request: Request, error: Exception) -> Response:
        # The frames are logged, not the exception's text: it might quote personal data.
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error(
            "unhandled %s on %s %s\n%s",
            type(error).__name__, request.method, request.url.path, frames,
        )  # fmt: skip
        return problem_response(500, "internal_error", f"the {service} could not answer this")

    app.add_exception_handler(ProblemError, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, on_store_unavailable)
    app.add_exception_handler(Exception, on_crash)


def problem_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """What routes document besides their success: the schema of every problem."""
    return {
        status: {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, description in descriptions.items()
    }


async def _on_problem(_request: Request, error: ProblemError) -> Response:
    return problem_response(
        error.status, error.code, error.detail, headers=error.headers, **error.extra
    )


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
    code = _HTTP_CODES.get(error.status_code, title(error.status_code).lower().replace(" ", "_"))
    detail = error.detail if isinstance(error.detail, str) else title(error.status_code)
    return problem_response(error.status_code, code, detail, headers=error.headers)


def title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
