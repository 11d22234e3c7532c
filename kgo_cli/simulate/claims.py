"""Which budget coins a simulated day may claim, and the order that keeps a run repeatable.

Grants are decided asynchronously (a redemption -> Kafka -> missions -> Kafka -> the wallet):
when several residents' grants compete for the last coins of a budget, which of them is paid
would depend on timing. The wallet pays a grant whole or refuses it, and budgets are refilled
only by settlements (run alone, at the end of a day), so within a wave of concurrent actions:
a claim larger than what the budget holds is refused whatever the order, and claims that fit
together are all paid whatever the order. ``cut`` takes a day's actions, in plan order, into
waves whose claims fit (each wave run concurrently, then the platform left to react, then the
budgets read again); only what would compete waits for the next wave, even one resident's
own later actions (its grants travel through different services). ``shortfalls`` and
``waves`` do the same for an offline batch's covers. Pure: no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from .plan import Action
from .state import Progress

WELCOME = "welcome"
ACTIVITIES = "municipal-activities"
MATCHING = "shop-matching"
OFFLINE_LOSS = "offline-loss"

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


def cut(
    units: Sequence[tuple[Unit, int]],
    claims: Callable[[Unit, int], list[Claim]],
    available: dict[str, int],
) -> list[tuple[Unit, int]]:
    """The next wave, in plan order: each unit with how many of its steps run in it.

    ``units``: (unit, steps left), a unit's steps run one after another (a resident's
    actions of the day); ``claims(unit, k)``: the grants its next ``k`` steps can claim
    (growing with ``k``). A unit joins the wave with as many steps as fit beside what the
    wave already claims, counting every claim of the unit (a ride's grant and a
    redemption's travel through different services, so one resident's own grants compete
    too). A unit cut short closes the wave: its other steps come first in the next one,
    weighed against what this wave left. The first unit runs at least one step (one step
    claims at most once per budget: its outcome does not depend on order)."""
    taken: dict[str, int] = defaultdict(int)
    wave: list[tuple[Unit, int]] = []
    for unit, steps in units:
        k = steps
        while k > 0 and not _fit(claims(unit, k), taken, available):
            k -= 1
        if k == 0:
            if wave:
                break
            k = 1
        wave.append((unit, k))
        for budget, coins in _competing(claims(unit, k), available):
            taken[budget] += coins
        if k < steps:
            break
    return wave


def _competing(claims: Iterable[Claim], available: dict[str, int]) -> list[Claim]:
    """The claims that may be paid (a larger one is refused whatever the order)."""
    return [(b, c) for b, c in claims if c <= available.get(b, 0)]


def _fit(claims: Iterable[Claim], taken: dict[str, int], available: dict[str, int]) -> bool:
    wanted: dict[str, int] = defaultdict(int)
    for budget, coins in _competing(claims, available):
        wanted[budget] += coins
    return all(taken[b] + c <= available.get(b, 0) for b, c in wanted.items())


def waves(
    units: Sequence[tuple[Unit, list[Claim]]], available: dict[str, int]
) -> tuple[list[Unit], list[tuple[Unit, list[Claim]]]]:
    """For units of one step: the next wave (at least one unit) and the units left."""
    wave = cut([(i, 1) for i in range(len(units))], lambda i, _k: units[i][1], available)
    return [unit for unit, _ in units[: len(wave)]], list(units[len(wave) :])


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


def shortfalls(
    taps: Iterable[tuple[str, int]], balances: dict[int, int], fare: int
) -> dict[str, int]:
    """The offline-loss budget's possible covers in an offline batch: (tap id, rider) in
    tap order against the riders' balances at the upload; each tap whose rider may no
    longer hold the fare claims the fare (its rider's earlier taps in the batch first)."""
    left = dict(balances)
    out = {}
    for tap_id, rider in taps:
        if left.get(rider, 0) < fare:
            out[tap_id] = fare
        left[rider] = left.get(rider, 0) - fare
    return out
