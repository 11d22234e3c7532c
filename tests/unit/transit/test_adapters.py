"""The wallet adapter against the wallet's HTTP contract (a mock transport), and the
wallet-topic consumer fed contract events through the dispatch the real consumer uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from kgo_contracts import wallet as w
from kgo_runtime.clock import BANGKOK
from kgo_runtime.envelope import Envelope
from kgo_runtime.wallet_client import WalletClient
from services.transit.adapters.wallet import HttpWallet
from services.transit.application.ports import FareAsk, Moved, Refused, WalletUnreachable
from services.transit.domain.errors import WalletDown
from services.transit.entrypoints.wallet_topic import wallet_topic_handler
from services.wallet.domain.ids import payee_id

from .conftest import MORNING, Transit

pytestmark = pytest.mark.unit

RIDER, MOVEMENT = uuid4(), uuid4()


def wallet_handled(handle: Callable[[httpx.Request], httpx.Response]) -> HttpWallet:
    client = WalletClient(
        "http://wallet", lambda: "kgo_service", transport=httpx.MockTransport(handle), attempts=1
    )
    return HttpWallet(client)


def wallet_answering(status: int, body: dict[str, Any], seen: list[httpx.Request]) -> HttpWallet:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return wallet_handled(handle)


async def test_a_spend_presents_the_pass_with_the_trips_key() -> None:
    seen: list[httpx.Request] = []
    wallet = wallet_answering(201, {"movement_id": str(MOVEMENT), "wallet_id": str(RIDER)}, seen)
    operator = uuid4()
    answer = await wallet.spend_fare(
        operator_id=operator, amount=50, reference="trip-1", pass_token="pass-1234", key="k-1"
    )
    assert answer == Moved(MOVEMENT, RIDER)
    (request,) = seen
    assert (request.url.path, request.headers["Idempotency-Key"]) == ("/v1/spends", "k-1")
    assert json.loads(request.content) == {
        "payee_id": str(operator),
        "amount": 50,
        "reference": "trip-1",
        "authorisation": {"kind": "transit_pass", "pass": "pass-1234"},
    }


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (409, {"code": "insufficient_funds", "detail": "no"}, Refused("insufficient_funds", "no")),
        (404, {"code": "transit_pass_invalid", "detail": ""}, Refused("transit_pass_invalid")),
    ],
)
async def test_refusals_are_answers(status: int, body: dict[str, Any], expected: Refused) -> None:
    wallet = wallet_answering(status, body, [])
    answer = await wallet.spend_fare(
        operator_id=uuid4(), amount=50, reference="r", pass_token="pass-1234", key="k"
    )
    assert answer == expected


async def test_no_answer_is_unreachable() -> None:
    wallet = wallet_answering(503, {"code": "store_unavailable"}, [])
    with pytest.raises(WalletUnreachable):
        await wallet.spend_fare(
            operator_id=uuid4(), amount=50, reference="r", pass_token="pass-1234", key="k"
        )


FARES = [FareAsk(50, "trip-1", "pass-1234", "k-1"), FareAsk(50, "trip-2", "pass-5678", "k-2"),
         FareAsk(50, "trip-3", "pass-9999", "k-3")]  # fmt: skip


async def test_fares_go_in_one_batch_each_with_its_key_answered_in_order() -> None:
    seen: list[httpx.Request] = []
    results = [
        {"status": 201, "movement_id": str(MOVEMENT), "wallet_id": str(RIDER), "amount": 50},
        {"status": 409, "code": "insufficient_funds", "detail": "no"},
        {"status": 503, "code": "store_unavailable", "detail": "retry"},
    ]
    wallet = wallet_answering(200, {"results": results}, seen)
    operator = uuid4()

    answers = await wallet.spend_fares(operator_id=operator, fares=FARES)

    assert answers == [Moved(MOVEMENT, RIDER), Refused("insufficient_funds", "no"), None]
    (request,) = seen
    assert request.url.path == "/v1/spends/batch" and "Idempotency-Key" not in request.headers
    first = json.loads(request.content)["spends"][0]
    assert first == {
        "payee_id": str(operator), "amount": 50, "reference": "trip-1", "idempotency_key": "k-1",
        "authorisation": {"kind": "transit_pass", "pass": "pass-1234"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, {"code": "store_unavailable"}), (200, {"results": []}), (200, {"nope": 1})],
)
async def test_a_batch_without_a_reading_answer_leaves_every_fare_unanswered(
    status: int, body: dict[str, Any]
) -> None:
    wallet = wallet_answering(status, body, [])
    assert await wallet.spend_fares(operator_id=uuid4(), fares=FARES) == [None, None, None]


async def test_a_wallet_without_batches_is_asked_one_fare_a_request_from_then_on() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/spends/batch":
            return httpx.Response(404, json={"code": "not_found"})
        key = request.headers["Idempotency-Key"]
        if key == "k-2":
            return httpx.Response(503, json={"code": "store_unavailable"})
        return httpx.Response(201, json={"movement_id": str(uuid4()), "wallet_id": str(RIDER)})

    wallet = wallet_handled(handle)

    first = await wallet.spend_fares(operator_id=uuid4(), fares=FARES)
    second = await wallet.spend_fares(operator_id=uuid4(), fares=FARES[:1])

    assert [type(a) for a in first] == [Moved, type(None), Moved] and isinstance(second[0], Moved)
    paths = [r.url.path for r in seen]
    assert paths == ["/v1/spends/batch"] + ["/v1/spends"] * 4


async def test_a_batch_refused_whole_is_asked_again_one_fare_a_request() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/v1/spends/batch":
            return httpx.Response(422, json={"code": "invalid_request"})
        if request.headers["Idempotency-Key"] == "k-2":
            return httpx.Response(422, json={"code": "invalid_request", "detail": "bad pass"})
        return httpx.Response(201, json={"movement_id": str(uuid4()), "wallet_id": str(RIDER)})

    wallet = wallet_handled(handle)
    answers = await wallet.spend_fares(operator_id=uuid4(), fares=FARES)
    again = await wallet.spend_fares(operator_id=uuid4(), fares=FARES[:1])
    assert isinstance(again[0], Moved)  # batches are still tried: the next may read

    assert [type(a) for a in answers] == [Moved, Refused, Moved]
    assert answers[1] == Refused("invalid_request", "bad pass")
    assert seen == ["/v1/spends/batch"] + ["/v1/spends"] * 3 + ["/v1/spends/batch", "/v1/spends"]


async def test_the_operators_account_already_open_is_found_by_its_id() -> None:
    wallet = wallet_answering(409, {"code": "already_exists"}, [])
    assert await wallet.open_operator("city-bus", "Bus") == payee_id("operator", "city-bus")


def envelope(event: Any) -> Envelope:
    return Envelope(str(uuid4()), "/kgo/wallet", event.ce_type(), event.occurred_at, "", event)


async def test_the_wallet_topic_finishes_a_trip_left_pending(transit: Transit) -> None:
    rider = transit.wallet.resident(120, "pass-A")
    transit.wallet.crash_after_spend = True
    request = transit.request("pass-A", tap_id="tap-1")
    with pytest.raises(WalletDown):
        await transit.collector.tap(request)
    operator = transit.collector.operator_id
    handler = wallet_topic_handler(transit.collector)
    paid = w.PaymentReceived(
        account_id=operator,
        account_version=2,
        account_kind="operator",
        occurred_at=datetime(2022, 6, 10, 8, 40, 1, tzinfo=BANGKOK),
        movement_id=MOVEMENT,
        amount=50,
        available_after=50,
        held_after=0,
        counter_account_id=rider,
        counter_account_kind="resident",
        reference=str(request.tap.trip_id),
    )
    await handler(None, envelope(paid))  # type: ignore[arg-type]
    await handler(None, envelope(paid))  # a duplicate changes nothing
    transit.wallet.crash_after_spend = False
    trip = await transit.collector.tap(request)
    assert (trip.status, trip.coins, trip.replayed) == ("paid", 50, True)
    assert transit.wallet.calls.count(("spend", f"transit:fare:{request.tap.trip_id}")) == 1
    assert request.tap.tapped_at == MORNING


async def test_other_wallet_records_are_ignored(transit: Transit) -> None:
    handler = wallet_topic_handler(transit.collector)
    other = w.PaymentReceived(
        account_id=UUID(int=9),  # a shop, not the operator
        account_version=2,
        account_kind="operator",
        occurred_at=MORNING,
        movement_id=MOVEMENT,
        amount=5,
        available_after=5,
        held_after=0,
        counter_account_id=RIDER,
        counter_account_kind="resident",
        reference="not-a-trip",
    )
    await handler(None, envelope(other))  # type: ignore[arg-type]
