"""Taps decided by the application, on an in-memory store and a fake wallet."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from kgo_runtime.clock import BANGKOK
from services.transit.application.batches import upload
from services.transit.application.fares import TapRequest
from services.transit.domain.errors import IdempotencyConflict, WalletDown
from services.transit.domain.ids import DENY_LIST_ID
from services.transit.domain.ledger import DenyList
from services.transit.domain.taps import Tap

from .conftest import CAMPAIGN_END, MORNING, Transit, build_transit

pytestmark = pytest.mark.unit


async def test_a_campaign_ride_costs_50_coins_and_1_baht(transit: Transit) -> None:
    rider = transit.wallet.resident(120, "pass-A")
    trip = await transit.tap("pass-A")
    assert (trip.status, trip.coins, trip.baht_satang) == ("paid", 50, 100)
    assert trip.fare_product == trip.campaign == "one-baht-bus-2022"
    assert transit.wallet.balances[rider] == 70
    assert transit.wallet.balances[transit.collector.operator_id] == 50


async def test_a_retried_tap_lands_once(transit: Transit) -> None:
    rider = transit.wallet.resident(120, "pass-A")
    first = await transit.tap("pass-A", tap_id="tap-1")
    again = await transit.tap("pass-A", tap_id="tap-1")
    assert again.trip_id == first.trip_id and again.replayed and again.status == "paid"
    assert transit.wallet.balances[rider] == 70


async def test_a_tap_id_reused_for_another_tap_is_refused(transit: Transit) -> None:
    transit.wallet.resident(120, "pass-A")
    await transit.tap("pass-A", tap_id="tap-1")
    with pytest.raises(IdempotencyConflict):
        await transit.tap("pass-A", MORNING + timedelta(hours=1), tap_id="tap-1")


async def test_too_few_coins_records_the_regular_baht_fare(transit: Transit) -> None:
    transit.wallet.resident(30, "pass-A")
    trip = await transit.tap("pass-A")
    assert (trip.status, trip.reason) == ("declined", "insufficient_coins")
    assert (trip.coins, trip.baht_satang, trip.fare_product) == (0, 1500, "regular")


async def test_an_unknown_pass_is_declined(transit: Transit) -> None:
    trip = await transit.tap("no-such-pass")
    assert (trip.status, trip.reason, trip.baht_satang) == ("declined", "pass_unknown", 1500)


async def test_same_pass_same_bus_within_minutes_pays_once(transit: Transit) -> None:
    rider = transit.wallet.resident(500, "pass-A")
    await transit.tap("pass-A")
    double = await transit.tap("pass-A", MORNING + timedelta(minutes=2))
    assert (double.status, double.reason, double.baht_satang) == ("declined", "double_tap", 0)
    other_bus = await transit.tap("pass-A", MORNING + timedelta(minutes=2), bus="bus-02")
    later = await transit.tap("pass-A", MORNING + timedelta(minutes=10), bus="bus-03")
    assert other_bus.status == "paid"
    assert (later.status, later.reason) == ("declined", "fare_cap_reached")
    assert transit.wallet.balances[rider] == 400


async def test_the_daily_cap_counts_per_bangkok_day(transit: Transit) -> None:
    rider = transit.wallet.resident(1000, "pass-A")
    late = datetime(2022, 6, 10, 23, 0, tzinfo=BANGKOK)
    for n, at in enumerate([late, late + timedelta(minutes=30), late + timedelta(minutes=50)]):
        await transit.tap("pass-A", at, bus=f"bus-0{n + 1}")
    next_day = await transit.tap("pass-A", late + timedelta(hours=1, minutes=1), bus="bus-05")
    assert next_day.status == "paid"  # 00:01 on 11 June: a new day
    assert transit.wallet.balances[rider] == 1000 - 3 * 50


async def test_three_buses_at_once_with_120_coins_pay_for_at_most_two(transit: Transit) -> None:
    rider = transit.wallet.resident(120, "pass-A")
    transit.wallet.gate = gate = asyncio.Event()
    taps = [asyncio.create_task(transit.tap("pass-A", bus=f"bus-0{n}")) for n in (1, 2, 3)]
    await asyncio.sleep(0.05)
    gate.set()
    trips = await asyncio.gather(*taps)
    paid = [t for t in trips if t.status == "paid"]
    assert len(paid) == 2 and transit.wallet.balances[rider] == 20
    assert {t.reason for t in trips if t.status == "declined"} <= {
        "insufficient_coins",
        "fare_cap_reached",
    }


async def test_outside_the_campaign_no_coins_are_taken(transit: Transit) -> None:
    rider = transit.wallet.resident(120, "pass-A")
    trip = await transit.tap("pass-A", CAMPAIGN_END + timedelta(seconds=1))
    assert (trip.status, trip.coins, trip.baht_satang, trip.campaign) == ("paid", 0, 1500, None)
    assert transit.wallet.balances[rider] == 120
    assert not [c for c in transit.wallet.calls if c[0] == "spend"]


async def test_a_wallet_that_does_not_answer_leaves_the_tap_pending(transit: Transit) -> None:
    rider = transit.wallet.resident(120, "pass-A")
    transit.wallet.crash_after_spend = True
    with pytest.raises(WalletDown):
        await transit.tap("pass-A", tap_id="tap-1")
    transit.wallet.crash_after_spend = False
    trip = await transit.tap("pass-A", tap_id="tap-1")  # the validator sends it again
    assert trip.status == "paid" and transit.wallet.balances[rider] == 70


async def test_an_offline_batch_is_judged_at_tap_time_and_can_be_resent(transit: Transit) -> None:
    rider = transit.wallet.resident(200, "pass-A")
    transit.clock.set(datetime(2022, 9, 5, 10, tzinfo=BANGKOK))  # uploaded after the campaign
    at = datetime(2022, 8, 31, 23, 50, tzinfo=BANGKOK)
    batch = [
        transit.request("pass-A", at, tap_id="o1", offline=True),
        transit.request("pass-A", at + timedelta(minutes=20), tap_id="o2", offline=True),
    ]
    first = await upload(transit.collector, batch)
    assert [(t.status, t.coins) for t in first] == [("paid", 50), ("paid", 0)]
    again = await upload(transit.collector, batch)
    assert [t.replayed for t in again] == [True, True]
    assert transit.wallet.balances[rider] == 150


async def test_offline_shortfall_goes_to_the_loss_budget_then_the_deny_list() -> None:
    transit = build_transit(offline_allowance=50)
    rider = transit.wallet.resident(100, "pass-A")
    await transit.tap("pass-A", MORNING - timedelta(days=1))  # online: the wallet is known
    transit.wallet.balances[rider] = 0  # spent elsewhere before the upload
    batch = [
        transit.request("pass-A", MORNING + timedelta(minutes=m), bus=b, offline=True)
        for m, b in ((0, "bus-01"), (30, "bus-02"))
    ]
    covered, over = await upload(transit.collector, batch)
    assert (covered.status, covered.coins, covered.shortfall_covered) == ("paid", 50, 50)
    assert (over.status, over.reason) == ("declined", "insufficient_coins")
    assert transit.wallet.balances[rider] == 0  # never negative
    assert transit.wallet.budgets["offline-loss"] == 950
    deny = transit.store.find(DENY_LIST_ID, DenyList)
    assert deny is not None and transit.digest("pass-A") in deny.digests
    denied = await transit.tap("pass-A", MORNING + timedelta(hours=3), bus="bus-04")
    assert (denied.status, denied.reason) == ("declined", "pass_denied")


async def test_recovery_from_the_wallet_topic_finishes_a_pending_trip(transit: Transit) -> None:
    from uuid import uuid4

    from services.transit.application.recovery import finish_trip

    rider = transit.wallet.resident(120, "pass-A")
    transit.wallet.crash_after_spend = True
    with pytest.raises(WalletDown):
        await transit.tap("pass-A", tap_id="tap-1")
    trip_id = Tap("tap-1", "val-bus-01", "bus-01", "kk-1", "", MORNING).trip_id
    done = await finish_trip(
        transit.collector,
        reference=str(trip_id),
        payee_id=transit.collector.operator_id,
        rider_id=rider,
        movement_id=uuid4(),
    )
    assert done
    transit.wallet.crash_after_spend = False
    trip = await transit.collector.tap(
        TapRequest(transit.request("pass-A", tap_id="tap-1").tap, "x")
    )
    assert (trip.status, trip.coins, trip.replayed) == ("paid", 50, True)


async def test_every_stored_event_maps_to_its_contract_or_is_internal() -> None:
    from kgo_contracts.registry import BY_CE_TYPE
    from services.transit.adapters.contracts import to_contract

    transit = build_transit(offline_allowance=50)
    rider = transit.wallet.resident(100, "pass-A")
    await transit.tap("pass-A")
    await transit.tap("pass-A", MORNING + timedelta(minutes=1))  # double tap
    transit.wallet.balances[rider] = 0
    await upload(
        transit.collector, [transit.request("pass-A", MORNING, bus="bus-05", offline=True)]
    )
    next_day = MORNING + timedelta(days=1)
    await upload(
        transit.collector, [transit.request("pass-A", next_day, bus="bus-06", offline=True)]
    )
    _, _, made = transit.admin.register_validator("val-1", "bus-01")
    transit.store.save(*made)
    published = set()
    for n in transit.store.recorder.select_notifications(1, 1000):
        contract = to_contract(transit.store.mapper.to_domain_event(n))
        if contract is not None:
            assert BY_CE_TYPE[contract.ce_type()] is type(contract)
            published.add(type(contract).__name__)
    assert published >= {
        "RouteOpened",
        "BusRegistered",
        "CampaignScheduled",
        "FarePaid",
        "FareDeclined",
        "PassDenied",
        "ValidatorRegistered",
    }


async def test_the_desk_decides_concurrent_taps_together_and_still_once(transit: Transit) -> None:
    from services.transit.application.desk import TapDesk

    desk = TapDesk(transit.collector)
    rider = transit.wallet.resident(120, "pass-A")
    others = [transit.wallet.resident(100, f"pass-{n}") for n in range(5)]
    requests = [transit.request("pass-A", bus=f"bus-0{n}", tap_id=f"a{n}") for n in (1, 2, 3)]
    requests += [transit.request(f"pass-{n}", bus="bus-04", tap_id=f"o{n}") for n in range(5)]
    trips = await asyncio.gather(*(desk.tap(r) for r in requests))
    assert sum(1 for t in trips[:3] if t.status == "paid") == 2
    assert transit.wallet.balances[rider] == 20
    assert all(t.status == "paid" for t in trips[3:])
    assert all(transit.wallet.balances[w] == 50 for w in others)
    # A chunk's coin fares are asked of the wallet in one call, not a call each.
    assert len(transit.wallet.batches) < len(requests) and max(transit.wallet.batches) > 1
    again = await asyncio.gather(*(desk.tap(r) for r in requests))
    assert [t.trip_id for t in again] == [t.trip_id for t in trips] and all(
        t.replayed for t in again
    )
    with pytest.raises(IdempotencyConflict):
        await desk.tap(transit.request("pass-B", tap_id="a1"))
    transit.wallet.down = True
    with pytest.raises(WalletDown):
        await desk.tap(transit.request("pass-1", MORNING + timedelta(days=1), tap_id="late"))
    await desk.close()


async def test_a_chunk_that_lost_a_race_for_a_pass_is_judged_again_together(
    transit: Transit, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.transit.application.desk import TapDesk

    rider = transit.wallet.resident(500, "pass-A")
    other = transit.wallet.resident(500, "pass-B")
    save = transit.store.save
    raced: list[object] = []

    def save_after_a_concurrent_tap(*aggregates: object, **kwargs: object) -> object:
        if not raced:  # another chunk in flight saves pass-A's ride first
            raced.append(aggregates)
            transit.collector._judge(transit.request("pass-A", tap_id="x").tap, None, False)
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(transit.store, "save", save_after_a_concurrent_tap)
    desk = TapDesk(transit.collector)
    requests = [transit.request("pass-A", bus="bus-02", tap_id="a"),
                transit.request("pass-B", bus="bus-02", tap_id="b")]  # fmt: skip
    trips = await asyncio.gather(*(desk.tap(r) for r in requests))
    await desk.close()

    assert [t.status for t in trips] == ["paid", "paid"]
    assert transit.wallet.batches == [2]  # judged again as one chunk, not one tap at a time
    # pass-A's raced tap is judged (its coins not asked here); each chunk tap paid once.
    assert (transit.wallet.balances[rider], transit.wallet.balances[other]) == (450, 450)


async def test_a_pass_in_a_chunk_in_flight_waits_for_it_and_others_go_on(
    transit: Transit,
) -> None:
    from services.transit.application.desk import TapDesk

    transit.wallet.resident(500, "pass-A")
    transit.wallet.resident(500, "pass-B")
    transit.wallet.gate = gate = asyncio.Event()
    desk = TapDesk(transit.collector)
    first = asyncio.ensure_future(desk.tap(transit.request("pass-A", bus="bus-01", tap_id="a1")))
    await asyncio.sleep(0.05)  # judged, its coins asked: the wallet holds them
    later = [
        asyncio.ensure_future(desk.tap(transit.request(p, bus="bus-02", tap_id=t)))
        for p, t in (("pass-A", "a2"), ("pass-B", "b1"))
    ]
    await asyncio.sleep(0.05)
    asked = [key for kind, key in transit.wallet.calls if kind == "spend"]
    gate.set()
    trips = await asyncio.gather(first, *later)
    await desk.close()

    # pass-B was judged beside the chunk in flight; pass-A's second tap waited for it.
    assert len(asked) == 2 and transit.wallet.batches[:2] == [1, 1]
    assert [t.status for t in trips] == ["paid", "paid", "paid"]
    assert len(transit.wallet.calls) == 3
