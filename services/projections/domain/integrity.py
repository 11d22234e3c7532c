"""The integrity rules: patterns of abuse an operator must see, each a pure decision over
facts the topics carry (redemptions, coin movements, fares, resident sign-ups).

A rule returns a :class:`Flag` with a reason an operator can read, or ``None``. A flag is
an observation for a person to look into: nothing here (or anywhere downstream) moves coins
or refuses anyone because of it. One flag per kind and subject (a pair, a shop, a cycle's
accounts, a rider, a sign-up window): later evidence updates its reason and evidence rather
than raising another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID, uuid5

from kgo_contracts.base import BANGKOK

_FLAGS = UUID("6a0f3c1e-2b7d-4e59-8f31-9d4c7b2a5e60")


class FlagKind(StrEnum):
    #: A resident and a shop redeem the most coins the bill allows, again and again.
    PAIR_AT_CAP = "pair_at_cap"
    #: A shop's redemptions sit just under its per-bill cap, most of the time.
    JUST_UNDER_CAP = "just_under_cap"
    #: A shop's coins come from a few residents.
    FEW_RESIDENTS = "few_residents"
    #: Coins went round between a few accounts (resident -> shop -> resident ...).
    COIN_CYCLE = "coin_cycle"
    #: Many resident wallets opened in a few minutes.
    SIGNUP_BURST = "signup_burst"
    #: Many resident wallets opened from one device or one network within an hour or so.
    SIGNUP_ORIGIN_BURST = "signup_origin_burst"
    #: One rider's pass paid on many validators within minutes.
    PASS_ON_MANY_VALIDATORS = "pass_on_many_validators"
    #: One rider's pass paid again every few seconds.
    PASS_RAPID_TAPS = "pass_rapid_taps"


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    #: What the flag is about (accounts, a shop, a window), stable across its evidence.
    subject: str
    reason: str
    #: The business time of the event that raised (or last updated) it.
    at: datetime
    accounts: tuple[UUID, ...] = ()
    shop_id: UUID | None = None
    evidence: dict[str, int | str] = field(default_factory=dict)

    @property
    def flag_id(self) -> UUID:
        return uuid5(_FLAGS, f"{self.kind.value}|{self.subject}")


@dataclass(frozen=True)
class ShopRules:
    coin_value_satang: int
    max_coin_share_percent: int
    cap_per_bill_coins: int | None


def bill_limit(rules: ShopRules, bill_satang: int) -> int:
    """The most coins a bill of ``bill_satang`` may take under the shop's rules."""
    share = bill_satang * rules.max_coin_share_percent // (100 * rules.coin_value_satang)
    cap = rules.cap_per_bill_coins
    return share if cap is None else min(share, cap)


def just_under(rules: ShopRules, coins: int, margin_percent: int) -> bool:
    """Coins just under the shop's per-bill cap: within ``margin_percent`` of it (at least one
    coin), but not at it."""
    cap = rules.cap_per_bill_coins
    if cap is None:
        return False
    margin = max(1, cap * margin_percent // 100)
    return cap - margin <= coins < cap


@dataclass(frozen=True)
class ShopWindow:
    """A shop's redemptions (not voided) in a window."""

    redemptions: int
    coins: int
    just_under: int
    #: The residents who redeemed the most coins there, most first: (wallet, coins).
    top: Sequence[tuple[UUID, int]]


def pair_at_cap(
    wallet: UUID, shop: UUID, at_cap: int, at: datetime, *, least: int, days: int
) -> Flag | None:
    if at_cap < least:
        return None
    return Flag(
        FlagKind.PAIR_AT_CAP, f"{wallet}:{shop}",
        f"resident {wallet} redeemed the most coins the bill allowed at shop {shop}"
        f" {at_cap} times in {days} days (flagged from {least})",
        at, (wallet,), shop, {"at_cap": at_cap, "days": days, "threshold": least},
    )  # fmt: skip


def just_under_cap(
    shop: UUID, w: ShopWindow, at: datetime, *, least: int, percent: int, days: int
) -> Flag | None:
    if w.just_under < least or w.just_under * 100 < percent * w.redemptions:
        return None
    return Flag(
        FlagKind.JUST_UNDER_CAP, str(shop),
        f"{w.just_under} of shop {shop}'s {w.redemptions} redemptions in {days} days were just"
        f" under its per-bill cap (flagged from {least} and {percent}%)",
        at, (), shop, {"just_under": w.just_under, "redemptions": w.redemptions, "days": days},
    )  # fmt: skip


def few_residents(
    shop: UUID, w: ShopWindow, at: datetime, *, top: int, percent: int, min_coins: int, days: int
) -> Flag | None:
    if w.coins < min_coins:
        return None
    leaders = list(w.top[:top])
    share = sum(coins for _, coins in leaders)
    if share * 100 < percent * w.coins:
        return None
    return Flag(
        FlagKind.FEW_RESIDENTS, str(shop),
        f"{len(leaders)} resident(s) brought {share} of the {w.coins} coins shop {shop} took"
        f" in {days} days ({share * 100 // w.coins}%; flagged from {percent}% of at least"
        f" {min_coins} coins)",
        at, tuple(wallet for wallet, _ in leaders), shop,
        {"coins": w.coins, "from_top": share, "residents": len(leaders), "days": days},
    )  # fmt: skip


def coin_cycle(path: Sequence[UUID], coins: int, at: datetime, *, days: int) -> Flag:
    """``path`` is the cycle's accounts in the coins' order (the last pays the first)."""
    start = path.index(min(path))  # one subject per cycle, whichever edge closed it
    ring = tuple(path[start:]) + tuple(path[:start])
    arrows = " -> ".join(str(a) for a in (*ring, ring[0]))
    return Flag(
        FlagKind.COIN_CYCLE, ">".join(str(a) for a in ring),
        f"coins went round {arrows}: at least {coins} coins along every hop in {days} days",
        at, ring, None, {"coins": coins, "accounts": len(ring), "days": days},
    )  # fmt: skip


def signup_burst(
    window_start: datetime, opened: int, at: datetime, *, least: int, minutes: int
) -> Flag | None:
    if opened < least:
        return None
    local = window_start.astimezone(BANGKOK)
    return Flag(
        FlagKind.SIGNUP_BURST, local.isoformat(),
        f"{opened} resident wallets opened in the {minutes} minutes from"
        f" {local:%Y-%m-%d %H:%M} Bangkok time (flagged from {least})",
        at, (), None, {"opened": opened, "minutes": minutes, "threshold": least},
    )  # fmt: skip


@dataclass(frozen=True, order=True)
class Signup:
    """A resident wallet opened from an origin (the wallet's day-keyed pseudonym)."""

    at: datetime
    account_id: UUID


#: What a sign-up origin is a pseudonym of (``AccountOpened.origin_<by>``).
ORIGIN_OF = {"device": "one device", "network": "one network (IPv4 /24 or IPv6 /56)"}
#: Most wallets a flag names (its evidence counts them all).
MAX_FLAG_ACCOUNTS = 100


def signup_origin_burst(
    by: str, origin: str, signups: Sequence[Signup], at: datetime, *, least: int, minutes: int
) -> Flag | None:
    """At least ``least`` resident wallets opened from one origin within ``minutes``. The
    origin changes every Bangkok day (the wallet's key does), so one flag per origin is one
    per origin and day."""
    best = max(_windows(signups, timedelta(minutes=minutes)), key=len, default=[])
    if len(best) < least:
        return None
    local = best[0].at.astimezone(BANGKOK)
    return Flag(
        FlagKind.SIGNUP_ORIGIN_BURST, f"{by}:{origin}",
        f"{len(best)} resident wallets opened from {ORIGIN_OF[by]} within {minutes} minutes"
        f" from {local:%Y-%m-%d %H:%M} Bangkok time (flagged from {least}); the {by} is known"
        f" only as {origin[:12]}..., a pseudonym of that day (it names no {by})",
        at, tuple(s.account_id for s in best[:MAX_FLAG_ACCOUNTS]), None,
        {"opened": len(best), "minutes": minutes, "threshold": least, "by": by,
         "origin": origin},
    )  # fmt: skip


@dataclass(frozen=True, order=True)
class Tap:
    at: datetime
    validator_id: str
    trip_id: UUID


Timed = TypeVar("Timed", Tap, Signup)


def _windows(items: Sequence[Timed], span: timedelta) -> list[list[Timed]]:
    """Every run of taps (or sign-ups) no longer than ``span`` (sorted by time), longest from
    each start."""
    ordered = sorted(items)
    runs, end = [], 0
    for start, first in enumerate(ordered):
        end = max(end, start)
        while end + 1 < len(ordered) and ordered[end + 1].at - first.at <= span:
            end += 1
        runs.append(ordered[start : end + 1])
    return runs


def pass_on_many_validators(
    wallet: UUID, taps: Sequence[Tap], at: datetime, *, least: int, minutes: int
) -> Flag | None:
    best: list[Tap] = []
    for run in _windows(taps, timedelta(minutes=minutes)):
        if len({t.validator_id for t in run}) > len({t.validator_id for t in best}):
            best = run
    validators = sorted({t.validator_id for t in best})
    if len(validators) < least:
        return None
    return Flag(
        FlagKind.PASS_ON_MANY_VALIDATORS, str(wallet),
        f"rider {wallet}'s pass paid on {len(validators)} validators"
        f" ({', '.join(validators)}) within {minutes} minutes from"
        f" {best[0].at.astimezone(BANGKOK):%H:%M:%S}: no bus ride does that"
        f" (flagged from {least})",
        at, (wallet,), None, {"validators": len(validators), "minutes": minutes},
    )  # fmt: skip


def pass_rapid_taps(
    wallet: UUID, taps: Sequence[Tap], at: datetime, *, least: int, seconds: int
) -> Flag | None:
    run = max(_windows(taps, timedelta(seconds=seconds)), key=len, default=[])
    if len(run) < least:
        return None
    return Flag(
        FlagKind.PASS_RAPID_TAPS, str(wallet),
        f"rider {wallet}'s pass paid {len(run)} fares within {seconds} seconds from"
        f" {run[0].at.astimezone(BANGKOK):%H:%M:%S}"
        f" ({', '.join(sorted({t.validator_id for t in run}))}) (flagged from {least})",
        at, (wallet,), None, {"fares": len(run), "seconds": seconds},
    )  # fmt: skip
