"""The city bus: a resident's rides, tapped at the bus's validators through the transit API
(or, without transit, paid through the wallet's consent routes as transit would), and the
offline validators' evening uploads.

A rider behaves as one would: during the 1-baht campaign it taps only when its app shows
the 50 coins (it keeps the coins of today's offline taps aside until they are uploaded;
a careless one does neither, so its offline taps may come up short at the upload),
after a declined tap it pays the driver in baht for the rest of the day, and a pass the
validator says is denied stays in the drawer for a week."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .claims import OFFLINE_LOSS, REWARD, WELCOME, Claim, shortfalls, waves
from .http import Refused
from .plan import Action, DayPlan
from .residents import Purse
from .state import Session

if TYPE_CHECKING:
    from .runner import Simulator

DENIED_DAYS = 7


def cash_ride(sim: Simulator, action: Action, reason: str) -> None:
    """The rider pays the driver the product's full fare in baht (no tap)."""
    student = sim.city.residents[action.resident or 0].student
    config = sim.config
    sim.totals.add("rides_baht_only")
    sim.totals.add(f"rides_cash_{reason}")
    sim.totals.add(
        "ride_baht_satang", config.fare_student_satang if student else config.fare_regular_satang
    )


async def ride(
    sim: Simulator, plan: DayPlan, action: Action, session: Session, purse: Purse, day: set[int]
) -> None:
    """``day``: the residents declined at a validator today."""
    resident = action.resident
    assert resident is not None
    fare = sim.config.campaign_fare_coins
    if sim.state.of(resident).denied_until > plan.index:
        return cash_ride(sim, action, "pass_denied")
    if resident in day:
        return cash_ride(sim, action, "declined_today")
    careless = sim.city.residents[resident].careless
    if plan.campaign and purse.available < fare and not careless:
        return cash_ride(sim, action, "too_few_coins")
    if sim.direct:
        return await ride_direct(sim, plan, action, session, purse)
    await tap(sim, plan, action, session, purse, day)


def offline(sim: Simulator, action: Action) -> bool:
    return action.validator == 1 and action.bus < sim.config.offline_validators


async def tap(
    sim: Simulator, plan: DayPlan, action: Action, session: Session, purse: Purse, day: set[int]
) -> None:
    """A tap at the bus's validator (transit decides fare, campaign, cap and double tap)."""
    sim.totals.add("taps")
    pass_ = await sim.api.call(
        "POST", f"{sim.urls.wallet}/v1/transit-passes", token=session.access,
        key=f"sim-{sim.config.seed}-pass-{action.actor}",
    )  # fmt: skip
    student = sim.city.residents[action.resident or 0].student
    tap = {
        "tap_id": sim.key(plan, action.actor, action.n), "pass": pass_["pass"],
        "tapped_at": sim.clock.now().isoformat(), "fare_product": "student" if student else "regular",  # noqa: E501
    }  # fmt: skip
    device = (action.bus, action.validator)
    if offline(sim, action):
        sim.batches.setdefault(device, []).append((action, tap))
        sim.totals.add("taps_offline")
        if plan.campaign and not sim.city.residents[action.resident or 0].careless:
            purse.take(sim.config.campaign_fare_coins)  # kept aside until the upload
        return
    try:
        trip = await sim.api.call(
            "POST", f"{sim.urls.transit}/v1/taps", token=sim.validators[device],
            key=tap["tap_id"], body=tap,
        )  # fmt: skip
    except Refused as error:
        sim.totals.refuse("ride", error.code)
        day.add(action.resident or 0)
        return
    if not record_trip(sim, plan, action, trip):
        day.add(action.resident or 0)
    purse.take(int(trip.get("coins") or 0))


def record_trip(sim: Simulator, plan: DayPlan, action: Action, trip: dict[str, Any]) -> bool:
    """Counts a trip's answer; False when it was declined."""
    resident = action.resident or 0
    if trip.get("status") == "paid":
        coins = int(trip.get("coins") or 0)
        sim.state.of(resident).trips_paid += 1
        sim.totals.add("rides_coins" if coins else "rides_baht_only")
        sim.totals.add("ride_coins", coins)
        sim.totals.add("ride_baht_satang", int(trip.get("baht_satang") or 0))
        if trip.get("shortfall_covered"):
            sim.totals.add("shortfalls_covered")
            sim.totals.add("shortfall_coins", coins)
        return True
    reason = str(trip.get("reason") or trip.get("status"))
    sim.totals.refuse("ride", reason)
    if reason == "pass_denied":
        sim.state.of(resident).denied_until = plan.index + DENIED_DAYS
    student = sim.city.residents[resident].student
    sim.totals.add("rides_baht_only")
    sim.totals.add(
        "ride_baht_satang",
        sim.config.fare_student_satang if student else sim.config.fare_regular_satang,
    )
    return False


async def upload_offline(sim: Simulator, plan: DayPlan) -> None:
    """Each offline validator uploads its day in batches. A tap can claim two budgets'
    coins: the ten-rides reward (its rider's tenth paid trip) and, when its rider no longer
    holds the fare, the offline-loss budget's cover; transit decides a batch's taps
    concurrently, so batches are cut (``claims.waves``) so that the claims of one batch fit
    those budgets (each claim paid, or refused whatever the order), the platform reacting
    between them (only after a batch that claimed: nothing else moves a budget)."""
    batches, sim.batches = sim.batches, {}
    taps = [tap for _, device_taps in sorted(batches.items()) for tap in device_taps]
    shorts = await _shortfalls(sim, plan, taps)
    claimed = False
    for device, device_taps in sorted(batches.items()):
        units = [((a, tap), _tap_claims(sim, a, tap, shorts)) for a, tap in device_taps]
        part = 0
        while units:
            if claimed:  # the next batch's claims are weighed against what is left
                await sim.quiet()
            chunk, left = waves(units[:5_000], await sim.budgets())
            claimed = any(claims for _, claims in units[: len(chunk)])
            units = left + units[5_000:]
            await _send(sim, plan, device, part, chunk)
            part += 1
        if part > 1:
            sim.totals.add("offline_batches_split")
    if sim.direct:
        queued, sim.offline = sim.offline, []
        for day_plan, action, pass_ in queued:
            wallet_id = sim.state.wallets.get(action.resident or 0, "")
            await fare(sim, day_plan, action, pass_, wallet_id, offline=True)


async def _shortfalls(
    sim: Simulator, plan: DayPlan, taps: list[tuple[Action, dict[str, Any]]]
) -> dict[str, int]:
    """The taps (by tap id) whose rider may no longer hold the fare when transit asks the
    wallet: the offline-loss budget's possible covers, from the riders' balances once the
    day's grants are decided (only the rider's own offline taps move them before its
    upload; a grant its batch brings only adds)."""
    if plan.campaign or any(_tap_claims(sim, a, tap, {}) for a, tap in taps):
        await sim.quiet()  # the day's grants are decided before these are weighed
    if not plan.campaign:  # baht fares only: nothing to cover
        return {}
    balances: dict[int, int] = {}
    limit = asyncio.Semaphore(sim.concurrency)

    async def read(resident: int) -> None:
        async with limit:
            wallet = await sim.api.call(
                "GET", f"{sim.urls.wallet}/v1/wallets/{sim.state.wallets[resident]}",
                token=sim.admin,
            )  # fmt: skip
            balances[resident] = int(wallet["available"])

    await asyncio.gather(*(read(r) for r in sorted({a.resident or 0 for a, _ in taps})))
    riders = [(tap["tap_id"], action.resident or 0) for action, tap in taps]
    return shortfalls(riders, balances, sim.config.campaign_fare_coins)


def _tap_claims(
    sim: Simulator, action: Action, tap: dict[str, Any], shorts: dict[str, int]
) -> list[Claim]:
    trips = sim.state.of(action.resident or 0).trips_paid
    claims = [(WELCOME, REWARD["ten-rides"])] if trips == 9 else []
    if tap["tap_id"] in shorts:
        claims.append((OFFLINE_LOSS, shorts[tap["tap_id"]]))
    return claims


async def _send(
    sim: Simulator, plan: DayPlan, device: tuple[int, int], part: int,
    chunk: list[tuple[Action, dict[str, Any]]],
) -> None:  # fmt: skip
    key = f"sim-{sim.config.seed}-d{plan.index}-batch-{device[0]}-{device[1]}-{part}"
    try:
        answer = await sim.api.call(
            "POST", f"{sim.urls.transit}/v1/taps/batch", token=sim.validators[device],
            key=key, body={"taps": [tap for _, tap in chunk]},
        )  # fmt: skip
    except Refused as error:
        sim.totals.refuse("offline_batch", error.code)
        return
    for (action, _), trip in zip(chunk, answer.get("results", []), strict=False):
        record_trip(sim, plan, action, trip)


# ------------------------------------------------------------- without the transit service
async def ride_direct(
    sim: Simulator, plan: DayPlan, action: Action, session: Session, purse: Purse
) -> None:
    sim.totals.add("taps")
    if not plan.campaign:
        return cash_ride(sim, action, "no_campaign")
    key = sim.key(plan, action.actor, action.n)
    pass_ = await sim.api.call(
        "POST", f"{sim.urls.wallet}/v1/transit-passes", token=session.access, key=key + "-pass"
    )
    purse.take(sim.config.campaign_fare_coins)
    if offline(sim, action):
        sim.offline.append((plan, action, pass_["pass"]))
        sim.totals.add("taps_offline")
        return
    await fare(sim, plan, action, pass_["pass"], session.wallet_id, offline=False)


async def fare(
    sim: Simulator, plan: DayPlan, action: Action, pass_: str, wallet_id: str, *, offline: bool
) -> None:
    key, coins, api = sim.key(plan, action.actor, action.n), sim.config.campaign_fare_coins, sim.api
    body = {"payee_id": sim.bus_payee, "amount": coins, "reference": key,
            "authorisation": {"kind": "transit_pass", "pass": pass_}}  # fmt: skip
    try:
        await api.call(
            "POST", f"{sim.urls.wallet}/v1/spends", token=sim.service, key=key + "-fare", body=body
        )
    except Refused as error:
        if not (offline and error.code == "insufficient_funds"):
            sim.totals.refuse("ride", error.code)
            return cash_ride(sim, action, "declined")
        # The rider rode; the offline-loss budget pays the operator instead.
        short = {"programme": "offline-loss", "payee_id": sim.bus_payee, "wallet_id": wallet_id,
                 "amount": coins, "reference": key}  # fmt: skip
        try:
            await api.call(
                "POST", f"{sim.urls.wallet}/v1/shortfalls", token=sim.service,
                key=key + "-shortfall", body=short,
            )  # fmt: skip
            sim.totals.add("shortfalls_covered")
            sim.totals.add("shortfall_coins", coins)
        except Refused as again:
            sim.totals.refuse("shortfall", again.code)
        return
    sim.totals.add("rides_coins")
    sim.totals.add("ride_coins", coins)
    sim.totals.add("ride_baht_satang", sim.config.campaign_fare_satang)
