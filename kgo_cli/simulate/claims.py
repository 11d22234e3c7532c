"""Which budget coins a simulated day may claim, and the order that keeps a run repeatable.

Grants are decided asynchronously (a redemption -> Kafka -> missions -> Kafka -> the wallet):
when several residents' grants compete for the last coins of a budget, which of them is paid
would depend on timing. The wallet pays a grant whole or refuses it, and budgets are refilled
only by settlements (run alone, at the end of a day), so within a wave of concurrent actions:
a claim larger than what the budget holds is refused whatever the order, and claims that fit
together are all paid whatever the order. ``waves`` cuts a day's actions, in plan order, into
waves whose claims fit (each wave run concurrently, then the platform left to react, then the
budgets read again); only what would compete waits for the next wave. Pure: no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypeVar

from .plan import Action
from .state import Progress

WELCOME = "welcome"
ACTIVITIES = "municipal-activities"
MATCHING = "shop-matching"

SIGNUP_REWARD = 100  # the built-in sign-up mission (missions' MISSIONS_SIGNUP_REWARD)
ACTIVITY_REWARD = 20  # each Saturday activity's check-in
FESTIVAL_REWARD = 30
#: The missions the operators publish on the first day: (code, title, reward, rule).
MISSIONS = (
    ("first-shop-payment", "First payment at a shop", 50,
     {"kind": "first_time", "event": "discount_redeemed"}),
    ("three-shops", "Pay at three different shops", 100, {"kind": "distinct_shops", "shops": 3}),
    ("ten-rides", "Ride the city bus ten times", 50,
     {"kind": "count", "event": "fare_paid", "count": 10}),
    ("weekly-checkin", "Take part in a municipal activity", 50, {"kind": "check_in"}),
)  # fmt: skip
REWARD = {code: reward for code, _, reward, _ in MISSIONS}

Claim = tuple[str, int]  # (budget, coins)
Unit = TypeVar("Unit")


def day_claims(
    actions: Sequence[Action], progress: Progress, matching: dict[tuple[str, int], int]
) -> list[Claim]:
    """An upper bound of the grants one resident's day can earn: each mission it could still
    complete today, once; each check-in; each shop reward the city's budget pays
    (``matching``: (actor, n) -> coins, the earns a shop's own balance cannot pay)."""
    claims: list[Claim] = []
    kinds = [a.kind for a in actions]
    if "signup" in kinds:
        claims.append((WELCOME, SIGNUP_REWARD))
    shops = {a.shop for a in actions if a.kind == "pay" and a.shop is not None}
    if shops and not progress.redeemed:
        claims.append((WELCOME, REWARD["first-shop-payment"]))
    if len(progress.shops) < 3 <= len(progress.shops | shops):
        claims.append((WELCOME, REWARD["three-shops"]))
    if progress.trips_paid < 10 <= progress.trips_paid + kinds.count("ride"):
        claims.append((WELCOME, REWARD["ten-rides"]))
    for _ in range(kinds.count("check_in")):
        claims.append((ACTIVITIES, ACTIVITY_REWARD))
    if "check_in" in kinds and not progress.checked_in:
        claims.append((WELCOME, REWARD["weekly-checkin"]))
    for a in actions:
        if (a.actor, a.n) in matching:
            claims.append((MATCHING, matching[(a.actor, a.n)]))
    return claims


def fits(claims: Iterable[Claim], available: dict[str, int]) -> dict[str, bool]:
    """For a unit alone in its wave: per budget, whether its claims will be paid."""
    out: dict[str, bool] = {}
    for budget, coins in claims:
        out[budget] = out.get(budget, True) and coins <= available.get(budget, 0)
    return out


def waves(
    units: Sequence[tuple[Unit, list[Claim]]], available: dict[str, int]
) -> tuple[list[Unit], list[tuple[Unit, list[Claim]]]]:
    """The next wave (at least one unit) and the units left for later waves."""
    taken: dict[str, int] = defaultdict(int)
    wave: list[Unit] = []
    for unit, claims in units:
        competing = [
            (b, c) for b, c in claims if c <= available.get(b, 0)
        ]  # larger ones: refused whatever the order
        if wave and any(taken[b] + c > available.get(b, 0) for b, c in competing):
            break
        wave.append(unit)
        for b, c in competing:
            taken[b] += c
    return wave, list(units[len(wave) :])


def shop_sources(earns: Iterable[Action], balances: dict[int, int]) -> dict[tuple[str, int], int]:
    """Who pays each of a day's shop rewards, decided in plan order from the shops' balances
    at the start of the day (payments received during the day only add): the shop while its
    balance covers the rewards it gives, else the city's matching budget. Returns the
    (actor, n) -> coins of the matching ones."""
    spent: dict[int, int] = defaultdict(int)
    matching = {}
    for a in earns:
        assert a.shop is not None
        if balances.get(a.shop, 0) - spent[a.shop] >= a.coins:
            spent[a.shop] += a.coins
        else:
            matching[(a.actor, a.n)] = a.coins
    return matching
