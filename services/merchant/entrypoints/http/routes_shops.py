"""Shops: enrolment, status, rules, till credentials, settlements and daily statements.
Municipal staff run them; a shop's till may read its own shop and statements."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from kgo_runtime.direct_routes import DirectRoute
from kgo_runtime.problems import REPLAYED_HEADER, ProblemError
from kgo_runtime.writes import receipt_scope

from ...adapters.book import statement_csv
from ...application.answers import shop_body
from ...domain.shops import ShopFacts, ShopRules
from .api_models import EnrolRequest, RulesBody, SettleRequest, SuspendRequest, TillRequest
from .context import Admin, Key, Merchant, Reader, shop_scope
from .problems import PROBLEM_RESPONSES, answer_response

router = APIRouter(
    prefix="/merchant/v1", responses=PROBLEM_RESPONSES, tags=["shops"], route_class=DirectRoute
)


def _rules(body: RulesBody) -> ShopRules:
    return ShopRules(**body.model_dump())


@router.post("/shops", status_code=201)
async def enrol(body: EnrolRequest, m: Merchant, who: Admin, key: Key) -> Response:
    """Enrol a shop: its public facts, its rules, its contact (kept out of every event). Its
    wallet account is opened at once."""
    facts = ShopFacts(
        body.name, body.category, body.district, body.latitude, body.longitude, body.size_class
    )
    contact = body.contact.model_dump(exclude_none=True)
    answer = await m.shops.enrol(receipt_scope(who), key, facts, _rules(body.rules), contact)
    return answer_response(answer)


@router.get("/shops/{shop_id}")
async def get_shop(shop_id: UUID, m: Merchant, who: Reader) -> Response:
    shop_scope(who, shop_id)
    return JSONResponse(shop_body(await m.shops.shop(shop_id)))


@router.get("/shops/{shop_id}/contact")
async def get_contact(shop_id: UUID, m: Merchant, _who: Admin) -> Response:
    return JSONResponse({"shop_id": str(shop_id), "contact": await m.shops.contact(shop_id)})


@router.post("/shops/{shop_id}/suspend")
async def suspend(
    shop_id: UUID, body: SuspendRequest, m: Merchant, who: Admin, key: Key
) -> Response:
    """Suspend a shop: its tills' redemptions are declined `shop_suspended` until reinstated."""
    return answer_response(await m.shops.suspend(receipt_scope(who), key, shop_id, body.reason))


@router.post("/shops/{shop_id}/reinstate")
async def reinstate(shop_id: UUID, m: Merchant, who: Admin, key: Key) -> Response:
    return answer_response(await m.shops.reinstate(receipt_scope(who), key, shop_id))


@router.post("/shops/{shop_id}/rules")
async def change_rules(
    shop_id: UUID, body: RulesBody, m: Merchant, who: Admin, key: Key
) -> Response:
    """Replace the shop's rules; they apply to redemptions started from now on."""
    return answer_response(
        await m.shops.change_rules(receipt_scope(who), key, shop_id, _rules(body))
    )


@router.post("/shops/{shop_id}/tills", status_code=201, tags=["tills"])
async def create_till(
    shop_id: UUID, body: TillRequest, m: Merchant, _who: Admin, key: Key
) -> Response:
    """A new till credential for this shop: the `secret` is shown once (a retry with the
    same key answers the same till with `secret: null`)."""
    await m.shops.shop(shop_id)
    till, new = await m.tills.issue(shop_id, body.label, key=key)
    headers = None if new else {REPLAYED_HEADER: "true"}
    body_out = {"till_id": str(till.till_id), "shop_id": str(shop_id), "label": till.label,
                "secret": till.secret}  # fmt: skip
    return JSONResponse(body_out, status_code=201, headers=headers)


@router.get("/shops/{shop_id}/tills", tags=["tills"])
async def list_tills(shop_id: UUID, m: Merchant, _who: Admin) -> Response:
    return JSONResponse({"tills": await m.tills.list(shop_id)})


@router.post("/shops/{shop_id}/tills/{till_id}/rotate", tags=["tills"])
async def rotate_till(
    shop_id: UUID, till_id: UUID, m: Merchant, _who: Admin, _key: Key
) -> Response:
    """A new secret for the till; the old one stops working."""
    till = await m.tills.rotate(shop_id, till_id)
    if till is None:
        raise ProblemError(404, "till_not_found", "no such active till at this shop")
    return JSONResponse({"till_id": str(till_id), "shop_id": str(shop_id), "secret": till.secret})


@router.post("/shops/{shop_id}/tills/{till_id}/revoke", tags=["tills"])
async def revoke_till(
    shop_id: UUID, till_id: UUID, m: Merchant, _who: Admin, _key: Key
) -> Response:
    """Revoke the till's credential (a revoked till is not found again: idempotent)."""
    revoked = await m.tills.revoke(shop_id, till_id)
    return JSONResponse({"till_id": str(till_id), "revoked": True},
                        headers=None if revoked else {REPLAYED_HEADER: "true"})  # fmt: skip


@router.post("/shops/{shop_id}/settlements", status_code=201, tags=["settlements"])
async def settle(
    shop_id: UUID, body: SettleRequest, m: Merchant, _who: Admin, key: Key
) -> Response:
    """Return `coins` from the shop to a programme budget for `baht_satang` the programme
    pays outside KGO; `payment_reference` names that bank transfer."""
    answer = await m.circulation.settle(
        shop_id, key, coins=body.coins, baht_satang=body.baht_satang,
        payment_reference=body.payment_reference,
        programme=body.programme or m.settings.settlement_programme,
    )  # fmt: skip
    return answer_response(answer)


@router.get(
    "/shops/{shop_id}/statements",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per Bangkok day"}},
)
async def statements(
    shop_id: UUID,
    m: Merchant,
    who: Reader,
    day: Annotated[date | None, Query(description="One Bangkok day (YYYY-MM-DD)")] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """Daily statements as CSV: coins accepted, discount value, coins issued, voids,
    settlements and the closing balance, per Bangkok day."""
    shop_scope(who, shop_id)
    await m.shops.shop(shop_id)
    first = first or day or last
    last = last or day or first
    if first is None or last is None:
        first = last = date.fromisoformat(m.clock.now().date().isoformat())
    if last < first or (last - first).days > 366:
        raise ProblemError(422, "invalid_range", "from must precede to, at most 366 days")
    await m.book.catch_up()
    return Response(statement_csv(await m.book.statements(shop_id, first, last)),
                    media_type="text/csv")  # fmt: skip
