"""What validators call: taps one by one, offline batches, their settings and the deny list."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from kgo_runtime.access import Role, allow
from kgo_runtime.clock import BANGKOK
from kgo_runtime.direct_routes import DirectRoute
from kgo_runtime.problems import ProblemError, problem_responses

from ...adapters.digest import key_text
from ...application import batches
from ...application.fares import TapRequest
from ...domain.taps import Tap
from ...domain.validator import Validator
from ..container import TransitContainer
from .api_models import BatchBody, TapBody
from .context import READERS, IdempotencyKey, Transit, ValidatorAt, answer

router = APIRouter(tags=["taps"], route_class=DirectRoute)

DIGEST_ALGORITHM = "HMAC-SHA256 of the pass token, first 16 bytes, base64url without padding"


def tap_request(
    transit: TransitContainer, validator: Validator, body: TapBody, *, offline: bool
) -> TapRequest:
    tap = Tap(
        tap_id=body.tap_id,
        validator_id=validator.validator_id,
        bus_id=validator.bus_id,
        route_id=validator.route_id,
        pass_digest=transit.digest(body.pass_token),
        tapped_at=body.tapped_at.astimezone(BANGKOK),
        fare_product=body.fare_product,
        offline=offline,
    )
    return TapRequest(tap, body.pass_token)


@router.post(
    "/taps",
    status_code=201,
    responses=problem_responses(
        {
            403: "Not a validator's own credential",
            409: "`idempotency_key_reused`: this tap id was sent for another tap",
            422: "`idempotency_key_mismatch`: for a tap, the Idempotency-Key is its tap_id",
            503: "`wallet_unavailable`: the wallet did not answer; send the same tap again",
        }
    ),
)
async def tap(body: TapBody, call: ValidatorAt, key: IdempotencyKey) -> JSONResponse:
    """A tap decided now: `paid` (coins and baht parts) or `declined` with its reason and the
    baht fare that applies instead. The fare is judged at `tapped_at`, the validator's clock."""
    if key != body.tap_id:
        raise ProblemError(
            422, "idempotency_key_mismatch", "for a tap, the Idempotency-Key is its tap_id"
        )
    transit = call.transit
    view = await transit.desk.tap(tap_request(transit, call.validator, body, offline=False))
    return answer(view.answer(), 201, replayed=view.replayed)


@router.post("/taps/batch", responses=problem_responses({403: "Not a validator"}))
async def upload(body: BatchBody, call: ValidatorAt, _key: IdempotencyKey) -> dict[str, Any]:
    """An offline validator's taps, with their original times. Safe to send again: each tap
    lands once by its tap id. A tap the wallet could not be asked about now is `pending`:
    send the batch (or that tap) again."""
    transit = call.transit
    limit = transit.settings.batch_max_taps
    if len(body.taps) > limit:
        raise ProblemError(413, "batch_too_large", f"at most {limit} taps per batch")
    requests = [tap_request(transit, call.validator, one, offline=True) for one in body.taps]
    views = await batches.upload(transit.collector, requests)
    counts = Counter(view.status for view in views)
    return {
        "results": [view.answer() | {"replayed": view.replayed} for view in views],
        "paid": counts["paid"],
        "declined": counts["declined"],
        "pending": counts["pending"],
    }


@router.get("/validators/me")
async def me(call: ValidatorAt) -> dict[str, Any]:
    """The calling validator's settings, with the key it digests passes with to match the
    deny list offline."""
    validator, transit = call.validator, call.transit
    return {
        "validator_id": validator.validator_id,
        "bus_id": validator.bus_id,
        "route_id": validator.route_id,
        "double_tap_seconds": transit.settings.double_tap_seconds,
        "pass_digest_algorithm": DIGEST_ALGORITHM,
        "pass_digest_key": key_text(transit.digest.key),
    }


@router.get("/deny-list", dependencies=[Depends(allow(Role.SERVICE, *READERS))])
async def deny_list(transit: Transit) -> dict[str, Any]:
    """Digests of the passes validators must refuse (they went over their offline
    allowance). A validator digests a tapped pass with its key and looks it up here."""
    deny = await asyncio.to_thread(transit.store.deny_list)
    return {
        "pass_digest_algorithm": DIGEST_ALGORITHM,
        "version": deny.version,
        "count": len(deny.digests),
        "digests": sorted(deny.digests),
    }
