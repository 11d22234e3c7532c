"""The merchant's answers and errors as HTTP: the shared problem+json convention, with the
one table that maps the domain's stable codes to statuses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kgo_runtime import problems as shared
from kgo_runtime.problems import REPLAYED_HEADER, ProblemError, problem_response

from ...application.answers import Answer, TillLocked
from ...application.ports import WalletDown
from ...domain.errors import InProgress, MerchantError, NotFound

#: Status of each domain code that is not a plain 409 refusal.
STATUS_OF_CODE: dict[str, int] = {
    "invalid_shop": 422,
    "invalid_amount": 422,
    "in_progress": 503,
}


def answer_response(answer: Answer) -> Response:
    headers = dict(answer.headers)
    if answer.replayed:
        headers[REPLAYED_HEADER] = "true"
    if answer.ok:
        return JSONResponse(answer.body, status_code=answer.status, headers=headers or None)
    body: dict[str, Any] = dict(answer.body)
    # The problem's own members win; the thing's status is kept as ``state``.
    if "status" in body:
        body["state"] = body.pop("status")
    for member in ("type", "title", "detail"):
        body.pop(member, None)
    code = str(body.pop("code", "refused"))
    detail = str(body.pop("reason", None) or shared.title(answer.status))
    return problem_response(answer.status, code, detail, headers=headers or None, **body)


async def _on_merchant_error(_request: Request, error: MerchantError) -> Response:
    status = 404 if isinstance(error, NotFound) else STATUS_OF_CODE.get(error.code, 409)
    headers = {"Retry-After": "1"} if isinstance(error, InProgress) else None
    return problem_response(status, error.code, error.reason, headers=headers)


async def _on_till_locked(_request: Request, error: TillLocked) -> Response:
    return problem_response(
        429, error.code, str(error), headers={"Retry-After": str(int(error.retry_after + 0.999))}
    )


async def _on_wallet_down(_request: Request, _error: WalletDown) -> Response:
    return problem_response(
        503, "wallet_unavailable",
        "the wallet did not answer; retry with the same Idempotency-Key",
        headers={"Retry-After": "1"},
    )  # fmt: skip


def install_error_handlers(app: FastAPI) -> None:
    shared.install_error_handlers(app, service="merchant")
    app.add_exception_handler(MerchantError, _on_merchant_error)  # type: ignore[arg-type]
    app.add_exception_handler(TillLocked, _on_till_locked)  # type: ignore[arg-type]
    app.add_exception_handler(WalletDown, _on_wallet_down)  # type: ignore[arg-type]


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = shared.problem_responses(
    {
        400: "A missing or malformed Idempotency-Key, or malformed JSON",
        401: "No token, or an unknown, expired or revoked one (`unauthenticated`)",
        403: "The role may not do this, or a till asks about another shop (`forbidden`)",
        404: "No such shop, redemption or till",
        409: "Declined or refused with a stable code: `payment_code_invalid`, "
        "`payment_code_expired`, `payment_code_used`, `card_invalid`, `pin_incorrect` (with "
        "`attempts_left`), `redemption_interrupted`, `insufficient_funds`, `shop_suspended`, "
        "`coin_share_exceeded`, `bill_cap_exceeded`, `daily_cap_reached`, "
        "`void_window_closed`, `not_redeemed`, `idempotency_key_reused`...",
        422: "The request does not match the schema (`invalid_request`: e.g. both or neither "
        "of `payment_code` and `card`) or the rules (`invalid_shop`, `invalid_amount`)",
        423: "`card_locked`: the card is locked after too many wrong PINs (see a counter)",
        429: "The till sent too many wrong payment codes, cards or PINs (`till_locked`, with "
        "Retry-After)",
        503: "Starting, or the wallet did not answer: retry with the same Idempotency-Key",
    }
)

__all__ = ["PROBLEM_RESPONSES", "ProblemError", "answer_response", "install_error_handlers"]
