"""What the programme's operators and the municipality do around the residents: publish the
missions, schedule the Saturday activities, pay the festival's attendance awards, and settle
the shops' and the bus operator's coins back to the budgets every Sunday."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .claims import ACTIVITIES, ACTIVITY_REWARD, FESTIVAL_REWARD, MISSIONS, waves
from .http import Refused
from .plan import DayPlan

if TYPE_CHECKING:
    from .runner import Simulator

SHOP_SETTLEMENT_PROGRAMME = "welcome"
BUS_SETTLEMENT_PROGRAMME = "one-baht-bus-2022"
#: Satang the programme pays per settled coin: a shop's coin is a baht of discount; a bus
#: coin stands for the 14 baht of the fare the rider did not pay.
SHOP_SATANG_PER_COIN = 100
BUS_SATANG_PER_COIN = 28
SHOP_FLOAT = 100  # coins a shop keeps for its own rewards


async def publish_missions(sim: Simulator, plan: DayPlan) -> None:
    for code, title, reward, rule in MISSIONS:
        body = {
            "code": f"sim-{code}", "title_th": title, "title_en": title, "reward": reward,
            "starts_at": plan.at(0).isoformat(), "limit": 1, "period": "once",
            "campaign": "welcome", "programme": "welcome", "rule": rule,
        }  # fmt: skip
        try:
            await sim.api.call(
                "POST", f"{sim.urls.missions}/v1/missions", token=sim.operator,
                key=f"sim-{sim.config.seed}-mission-{code}", body=body,
            )  # fmt: skip
            sim.totals.add("missions_published")
        except Refused as error:
            sim.totals.refuse("publish_mission", error.code)


async def schedule_activity(sim: Simulator, plan: DayPlan) -> None:
    name = plan.operators.activity
    assert name
    body = {"code": name, "title_th": "กิจกรรมเทศบาล", "title_en": "Municipal activity",
            "reward": ACTIVITY_REWARD, "starts_at": plan.at(6).isoformat(),
            "ends_at": plan.at(19).isoformat()}  # fmt: skip
    url = f"{sim.urls.missions}/v1/activities"
    key = f"sim-{sim.config.seed}-{name}"
    activity = await sim.api.call("POST", url, token=sim.operator, key=key, body=body)
    activity_id = activity["activity_id"]
    code = await sim.api.call("GET", f"{url}/{activity_id}/code", token=sim.operator)
    sim.activities[name] = (activity_id, code["code"])
    sim.totals.add("activities")


async def festival(sim: Simulator, plan: DayPlan) -> None:
    """The festival's bulk award: one activity, its attendees paid by the operator, in waves
    that the activities budget can pay whatever the order (``claims.waves``)."""
    body = {"code": f"sim-festival-{plan.day.isoformat()}", "title_th": "งานเทศกาล",
            "title_en": "City festival", "reward": FESTIVAL_REWARD,
            "starts_at": plan.at(8).isoformat(), "ends_at": plan.at(23).isoformat()}  # fmt: skip
    activity = await sim.api.call(
        "POST", f"{sim.urls.missions}/v1/activities", token=sim.operator,
        key=f"sim-{sim.config.seed}-festival", body=body,
    )  # fmt: skip
    url = f"{sim.urls.missions}/v1/activities/{activity['activity_id']}/attendance"
    limit = asyncio.Semaphore(sim.concurrency)

    async def award(wallet: str) -> None:
        async with limit:
            try:
                await sim.api.call(
                    "POST", url, token=sim.operator,
                    key=f"award:{activity['activity_id']}:{wallet}", body={"wallet_id": wallet},
                )  # fmt: skip
                sim.totals.add("festival_awards")
            except Refused as error:
                sim.totals.refuse("festival_award", error.code)

    wallets = [sim.state.wallets[i] for i in sim.city.festival_attendees(plan.index)
               if i in sim.state.wallets]  # fmt: skip
    units = [(w, [(ACTIVITIES, FESTIVAL_REWARD)]) for w in wallets]
    await sim.quiet()  # the day's grants are decided before the awards are weighed
    while units:
        wave, units = waves(units, await sim.budgets())
        await asyncio.gather(*(award(w) for w in wave))
        await sim.quiet()


async def settle(sim: Simulator, plan: DayPlan) -> None:
    """Weekly: each shop returns what it holds above its float; the bus operator all its
    coins."""
    payees = [
        (f"shop{i}", p, SHOP_SETTLEMENT_PROGRAMME, SHOP_SATANG_PER_COIN, SHOP_FLOAT)
        for i, p in sorted(sim.shop_payees.items())
    ]
    payees.append(("bus", sim.bus_payee, BUS_SETTLEMENT_PROGRAMME, BUS_SATANG_PER_COIN, 0))
    for name, payee, programme, satang, keep in payees:
        account = await sim.api.call(
            "GET", f"{sim.urls.wallet}/v1/wallets/{payee}", token=sim.admin
        )
        coins = int(account["available"]) - keep
        if coins <= 0:
            continue
        key = sim.key(plan, name, 0, "settle")
        body = {"programme": programme, "baht_satang": coins * satang, "payment_reference": key}
        if sim.direct:
            url, who = f"{sim.urls.wallet}/v1/settlements", sim.service
            body |= {"payee_id": payee, "amount": coins}
        elif name == "bus":
            url, who = f"{sim.urls.transit}/v1/settlements", sim.admin
            body["coins"] = coins
        else:
            shop_id = sim.shop_ids[int(name[4:])]
            url, who = f"{sim.urls.merchant}/merchant/v1/shops/{shop_id}/settlements", sim.admin
            body["coins"] = coins
        try:
            await sim.api.call("POST", url, token=who, key=key, body=body)
            sim.totals.add("settlements")
            sim.totals.add("coins_settled", coins)
            sim.totals.add("baht_settled_satang", coins * satang)
        except Refused as error:
            sim.totals.refuse("settlement", error.code)
