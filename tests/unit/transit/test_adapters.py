"""The wallet adapter against the wallet's HTTP contract (a mock transport), and the
wallet-topic consumer fed contract events through the dispatch the real consumer uses."""

from __future__ import annotations

import json
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
from services.transit.application.ports import Moved, Refused, WalletUnreachable
from services.transit.domain.errors import WalletDown
from services.transit.entrypoints.wallet_topic import wallet_topic_handler
from services.wallet.domain.ids import payee_id

from .conftest import MORNING, Transit

pytestmark = pytest.mark.unit

RIDER, MOVEMENT = uuid4(), uuid4()


def wallet_answering(status: int, body: dict[str, Any], seen: list[httpx.Request]) -> HttpWallet:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    client = WalletClient(
        "http://wallet", lambda: "kgo_service", transport=httpx.MockTransport(handle), attempts=1
    )
    return HttpWallet(client)


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
