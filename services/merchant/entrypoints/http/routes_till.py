"""At the till: redeem coins against a bill with the resident's payment code or card and
PIN, void a redemption within the window, reward a customer who shows a receive code."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from kgo_runtime.access import Principal, Role, allow
from kgo_runtime.direct_routes import DirectRoute

from ...domain.authorisation import Authorisation, CardAndPin, PaymentCode
from .api_models import RedeemRequest, RewardRequest
from .context import Key, Merchant, TillCaller, shop_scope, till_of
from .problems import PROBLEM_RESPONSES, ProblemError, answer_response

router = APIRouter(
    prefix="/merchant/v1", responses=PROBLEM_RESPONSES, tags=["till"], route_class=DirectRoute
)

Staff = Annotated[Principal, Depends(allow(Role.PAYEE, Role.MUNICIPAL_ADMIN, Role.AUDITOR))]
Voider = Annotated[Principal, Depends(allow(Role.PAYEE, Role.MUNICIPAL_ADMIN))]


@router.post("/redemptions", status_code=201)
async def redeem(body: RedeemRequest, m: Merchant, till: TillCaller, key: Key) -> Response:
    """Pay part of a bill with coins, authorised by a payment code or a card and its PIN.
    Approved: 201 with the discount and what is left to pay. Declined: 409 with a stable
    `code` (423 `card_locked`; `pin_incorrect` carries `attempts_left`). A retry with the same
    key gets the first answer."""
    answer = await m.redemptions.redeem(
        till_of(till), key, authorisation=_authorisation(body), bill_satang=body.bill_satang,
        coins=body.coins, wallet_id=body.wallet_id,
    )  # fmt: skip
    return answer_response(answer)


def _authorisation(body: RedeemRequest) -> Authorisation:
    if (body.payment_code is None) == (body.card is None):
        raise ProblemError(422, "invalid_request", "send exactly one of payment_code or card")
    if body.card is not None:
        return CardAndPin(body.card.card_number, body.card.pin)
    assert body.payment_code is not None
    return PaymentCode(body.payment_code)


@router.get("/redemptions/{redemption_id}")
async def get_redemption(redemption_id: UUID, m: Merchant, who: Staff) -> Response:
    return answer_response(await m.redemptions.get(redemption_id, shop_id=shop_scope(who)))


@router.post("/redemptions/{redemption_id}/void")
async def void(redemption_id: UUID, m: Merchant, who: Voider, _key: Key) -> Response:
    """Give the coins back to the resident (same Bangkok day by default); after the window:
    409 `void_window_closed`. Voiding again answers the first void."""
    answer = await m.redemptions.void(redemption_id, by=who.caller, shop_id=shop_scope(who))
    return answer_response(answer)


@router.post("/rewards", status_code=201)
async def reward(body: RewardRequest, m: Merchant, till: TillCaller, key: Key) -> Response:
    """Reward the customer who shows this receive code, from the shop's own balance
    (`source: shop`) or its matching budget (`source: matching`)."""
    answer = await m.circulation.reward(
        till_of(till).shop_id, key, receive_code=body.receive_code, coins=body.coins,
        source=body.source,
    )  # fmt: skip
    return answer_response(answer)
