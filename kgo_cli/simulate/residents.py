"""What a resident does through the wallet's and missions' APIs, as the phone app would:
sign up with a one-time code, sign in again, look at the balance, ask for payment and
receive codes, pay at a shop's till, earn a reward, check in at an activity.

A resident looks at the app before paying: it never offers more coins than its wallet held
at the start of the day minus what it spent since (grants arriving during the day count the
next day), so what it tries does not depend on when a grant lands."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .claims import SIGNUP_REWARD
from .http import Refused
from .plan import Action, DayPlan, national_id, phone
from .state import Session

if TYPE_CHECKING:
    from .runner import Simulator

SHOP_SATANG_PER_COIN = 100

log = logging.getLogger("kgo.simulate")


class Purse:
    """The coins a resident knows it can spend today."""

    def __init__(self, available: int) -> None:
        self.available = available

    def take(self, coins: int) -> None:
        self.available = max(0, self.available - coins)


async def signup(sim: Simulator, plan: DayPlan, action: Action) -> bool:
    """Sign-up and phone confirmation. The welcome bonus travels wallet -> missions -> wallet
    through Kafka: the resident's day goes on in a later wave, once the platform is quiet."""
    seed, index = sim.config.seed, action.resident
    assert index is not None
    mobile = phone(seed, index)
    body = {
        "national_id": national_id(seed, index),
        "phone": mobile,
        "consent": {"terms_version": sim.terms, "accepted": True},
    }
    api, url = sim.api, sim.urls.wallet
    try:
        started, code = await challenge(
            sim, mobile, f"{url}/v1/signups", sim.key(plan, action.actor, action.n, "start"), body
        )
        session = await api.call(
            "POST", f"{url}/v1/signups/{started['signup_id']}/confirm",
            key=sim.key(plan, action.actor, action.n, "confirm"), body={"code": code},
        )  # fmt: skip
    except Refused as error:
        sim.totals.refuse("signup", error.code)
        return False
    keep(sim, index, session)
    sim.state.wallets[index] = session["wallet_id"]
    sim.totals.add("residents_signed_up")
    return True


def welcomed(sim: Simulator, available: int) -> None:
    """Counts a welcome the wave's budget paid, as the app shows it once the platform is
    quiet (its balance before any spending)."""
    if available >= SIGNUP_REWARD:
        sim.totals.add("welcome_received")
    else:
        sim.totals.refuse("welcome", "not_arrived")


async def balance(sim: Simulator, session: Session) -> int:
    wallet = await sim.api.call(
        "GET", f"{sim.urls.wallet}/v1/wallets/{session.wallet_id}", token=session.access
    )
    return int(wallet["available"])


async def challenge(
    sim: Simulator, mobile: str, url: str, key: str, body: dict[str, Any], tries: int = 4
) -> tuple[dict[str, Any], str]:
    """Asks for a one-time code and reads it from the phone. A wallet stopped between storing
    the challenge and sending its code answers a retry with the stored challenge and sends
    nothing; the resident then asks for a new code (a new request, a new key), as the app's
    "send a new code" does."""
    for attempt in range(tries):
        started = await sim.api.call(
            "POST", url, key=key if attempt == 0 else f"{key}-again{attempt}", body=body
        )
        code = await sim.outbox.code(mobile)
        if code is not None:
            return started, code
        # Not a total: whether it happens depends on when a process stopped, not on the plan.
        log.warning("no code came for %s; asking for a new one", url)
    raise RuntimeError(f"no one-time code arrived for {tries} requests in {sim.outbox.path}")


def keep(sim: Simulator, index: int, session: dict[str, Any]) -> None:
    sim.state.sessions[index] = Session(
        session["wallet_id"],
        session["access_token"],
        session["refresh_token"],
        datetime.fromisoformat(session["refresh_expires_at"]),
    )


async def session(sim: Simulator, plan: DayPlan, index: int, part: int = 0) -> Session:
    """A fresh access token: refreshed while the refresh token lives, else a new sign-in
    with a code sent to the phone. ``part``: the resident's day runs in several waves (each
    part asks for its own)."""
    known, actor, api, url = sim.state.sessions.get(index), f"r{index}", sim.api, sim.urls.wallet
    n = 99 + part  # the day's actions are numbered from 0: 99 and up are the app's own
    if known is not None and known.refresh_expires > sim.clock.now() + timedelta(hours=1):
        try:
            fresh = await api.call(
                "POST", f"{url}/v1/sessions/refresh", key=sim.key(plan, actor, n, "refresh"),
                body={"refresh_token": known.refresh},
            )  # fmt: skip
            keep(sim, index, fresh)
            return sim.state.sessions[index]
        except Refused:
            pass
    mobile = phone(sim.config.seed, index)
    started, code = await challenge(
        sim, mobile, f"{url}/v1/sessions", sim.key(plan, actor, n, "sign-in"), {"phone": mobile}
    )
    fresh = await api.call(
        "POST", f"{url}/v1/sessions/{started['challenge_id']}/confirm",
        key=sim.key(plan, actor, n, "sign-in-confirm"), body={"code": code},
    )  # fmt: skip
    keep(sim, index, fresh)
    sim.state.wallets[index] = fresh["wallet_id"]
    return sim.state.sessions[index]


async def pay(
    sim: Simulator, plan: DayPlan, action: Action, session: Session, purse: Purse
) -> None:
    """A payment code shown at the till, the coins the resident still has (up to the
    planned ones); with no coins left the bill is paid in baht and nothing is asked."""
    assert action.shop is not None and action.resident is not None
    coins = min(action.coins, purse.available)
    if coins <= 0:
        sim.totals.add("bills_paid_in_baht")
        return
    key, api = sim.key(plan, action.actor, action.n), sim.api
    code = await api.call(
        "POST", f"{sim.urls.wallet}/v1/payment-codes", token=session.access, key=key + "-code"
    )
    if sim.direct:
        body = {"payee_id": sim.shop_payees[action.shop], "amount": coins, "reference": key,
                "authorisation": {"kind": "payment_code", "code": code["code"]}}  # fmt: skip
        await api.call(
            "POST", f"{sim.urls.wallet}/v1/spends", token=sim.service, key=key + "-spend",
            body=body,
        )  # fmt: skip
        discount = coins * SHOP_SATANG_PER_COIN
    else:
        body = {"payment_code": code["code"], "bill_satang": action.bill_satang, "coins": coins}
        done = await api.call(
            "POST", f"{sim.urls.merchant}/merchant/v1/redemptions",
            token=sim.tills[action.shop], key=key, body=body,
        )  # fmt: skip
        coins, discount = int(done["coins"]), int(done["discount_satang"])
    purse.take(coins)
    progress = sim.state.of(action.resident)
    progress.redeemed = True
    progress.shops.add(action.shop)
    sim.totals.add("redemptions")
    sim.totals.add("coins_spent_at_shops", coins)
    sim.totals.add("discount_satang", discount)


async def earn(sim: Simulator, plan: DayPlan, action: Action, session: Session) -> None:
    """A shop's reward: from its own balance, or the city's matching budget (decided for the
    day in plan order: ``sim.matching``)."""
    assert action.shop is not None
    key, api = sim.key(plan, action.actor, action.n), sim.api
    source = "matching" if (action.actor, action.n) in sim.matching else "shop"
    code = await api.call(
        "POST", f"{sim.urls.wallet}/v1/receive-codes", token=session.access,
        key=f"{key}-receive-{source}",
    )  # fmt: skip
    if sim.direct:
        resolved = await api.call(
            "POST", f"{sim.urls.wallet}/v1/receive-codes/resolve", token=sim.service,
            key=key + "-resolve", body={"code": code["code"]},
        )  # fmt: skip
        body: dict[str, Any] = {"wallet_id": resolved["wallet_id"], "amount": action.coins,
                                "reference": key}  # fmt: skip
        if source == "shop":
            body["payee_id"] = sim.shop_payees[action.shop]
        else:
            body |= {"programme": "shop-matching", "reason": "shop reward"}
        url, token, body_key = f"{sim.urls.wallet}/v1/rewards", sim.service, f"{key}-{source}"
    else:
        body = {"receive_code": code["code"], "coins": action.coins, "source": source}
        url, token = f"{sim.urls.merchant}/merchant/v1/rewards", sim.tills[action.shop]
        body_key = f"{key}-{source}"
    await api.call("POST", url, token=token, key=body_key, body=body)
    sim.totals.add(f"{source}_rewards")
    sim.totals.add(f"{source}_reward_coins", action.coins)


async def check_in(sim: Simulator, plan: DayPlan, action: Action, session: Session) -> None:
    assert plan.operators.activity and action.resident is not None
    activity_id, code = sim.activities[plan.operators.activity]
    await sim.api.call(
        "POST", f"{sim.urls.missions}/v1/activities/{activity_id}/check-ins",
        token=session.access, key=sim.key(plan, action.actor, action.n), body={"code": code},
    )  # fmt: skip
    sim.state.of(action.resident).checked_in = True
    sim.totals.add("check_ins")
