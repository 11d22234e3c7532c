"""Applies events to the integrity read model: record the facts a rule needs, ask the store
for the window around the event, let the domain decide, keep the flag.

Which events feed which rule:

* ``ShopEnrolled`` / ``ShopRulesChanged``: the shop's rules (coin value, share, per-bill cap);
* ``DiscountRedeemed`` / ``RedemptionVoided``: ``pair_at_cap``, ``just_under_cap``,
  ``few_residents`` (a voided redemption no longer counts);
* debit legs between residents and shops (``CoinsSpent``, ``HoldCaptured``, ``RewardPaid``):
  ``coin_cycle`` (refunds are left out: a refund going back is no cycle);
* resident ``AccountOpened``: ``signup_burst``; with ``origin_device`` / ``origin_network``
  (an app sign-up: the wallet's day-keyed pseudonyms of where it came from)
  ``signup_origin_burst``;
* ``FarePaid``: ``pass_on_many_validators``, ``pass_rapid_taps`` (a batch's fares together:
  one insert and one read of the windows around them, then judged one by one in batch
  order, each seeing the fares stored before it and the batch's fares before it, as if
  applied one at a time).

Every fact is stored once by its own id, so a record delivered twice decides nothing twice
(the consumer's inbox drops it first anyway). Business time is the event's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from services.projections.domain import integrity as rules
from services.projections.domain.integrity import Flag, ShopRules, ShopWindow, Signup, Tap
from services.projections.integrity_settings import IntegritySettings

#: Debit legs that carry coins from one resident or shop to another.
EDGES = {"kgo.wallet.CoinsSpent", "kgo.wallet.HoldCaptured", "kgo.wallet.RewardPaid"}
PARTIES = {"resident", "shop"}
#: What a resident's sign-up origin may be a pseudonym of (``AccountOpened.origin_<by>``).
ORIGINS = ("device", "network")


@dataclass(frozen=True)
class Redemption:
    redemption_id: UUID
    shop_id: UUID
    wallet_id: UUID
    coins: int
    at_cap: bool
    just_under: bool
    at: datetime


class IntegrityStore(Protocol):
    async def shop_rules(self, shop: UUID) -> ShopRules | None: ...
    async def save_shop_rules(self, shop: UUID, rules: ShopRules) -> None: ...
    async def add_redemption(self, r: Redemption) -> bool: ...
    async def void_redemption(self, redemption: UUID) -> None: ...
    async def pair_at_cap(self, wallet: UUID, shop: UUID, since: datetime) -> int: ...
    async def shop_window(self, shop: UUID, since: datetime, top: int) -> ShopWindow: ...
    async def add_edge(
        self, movement: UUID, payer: UUID, payee: UUID, coins: int, at: datetime
    ) -> bool: ...
    async def paid_to(self, account: UUID, since: datetime, until: datetime) -> dict[UUID, int]: ...
    async def add_signup(self, account: UUID, at: datetime, origins: dict[str, str]) -> bool: ...
    async def signups(self, since: datetime, until: datetime) -> int: ...
    async def signups_from(
        self, by: str, origin: str, since: datetime, until: datetime
    ) -> list[Signup]: ...
    async def add_taps(self, taps: Sequence[tuple[UUID, Tap]]) -> set[UUID]:
        """Store each ``(wallet, tap)`` once by its trip id; the trip ids stored now."""
        ...

    async def taps_within(
        self, windows: Sequence[tuple[UUID, datetime, datetime]]
    ) -> list[tuple[UUID, Tap]]:
        """Every stored ``(wallet, tap)`` of a window's wallet inside that window (from,
        until: both included), each once."""
        ...

    async def keep(self, flag: Flag) -> None: ...
    async def seen(self, at: datetime) -> None: ...


def _window_start(at: datetime, minutes: int) -> datetime:
    seconds = minutes * 60
    stamp = int(at.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)


class IntegrityRules:
    def __init__(self, store: IntegrityStore, settings: IntegritySettings) -> None:
        self.store = store
        self.s = settings

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.s.window_days)

    async def apply(self, events: Iterable[tuple[str, Any]]) -> list[Flag]:
        """Apply ``(wire name, contract event)`` pairs in order; the flags raised."""
        raised: list[Flag] = []
        latest: datetime | None = None
        fares: list[Any] = []
        for name, event in events:
            if name == "kgo.transit.FarePaid":
                fares.append(event)  # their own tables: judged together, in order, below
            else:
                raised += await self._one(name, event)
            at: datetime = event.business_time()
            latest = at if latest is None or at > latest else latest
        if fares:
            raised += await self._fares(fares)
        # One flag per id: the last evidence of the batch is the one kept.
        for flag in {f.flag_id: f for f in raised}.values():
            await self.store.keep(flag)
        if latest is not None:
            await self.store.seen(latest)
        return raised

    async def _one(self, name: str, e: Any) -> Sequence[Flag]:
        if name in ("kgo.merchant.ShopEnrolled", "kgo.merchant.ShopRulesChanged"):
            shop = ShopRules(e.coin_value_satang, e.max_coin_share_percent, e.cap_per_bill_coins)
            await self.store.save_shop_rules(e.shop_id, shop)
        elif name == "kgo.merchant.DiscountRedeemed":
            return await self._redeemed(e)
        elif name == "kgo.merchant.RedemptionVoided":
            await self.store.void_redemption(e.redemption_id)
        elif name in EDGES:
            if e.account_kind in PARTIES and e.counter_account_kind in PARTIES:
                return await self._moved(e)
        elif name == "kgo.wallet.AccountOpened" and e.account_kind == "resident":
            return await self._opened(e)
        return ()

    async def _redeemed(self, e: Any) -> Sequence[Flag]:
        s, shop_rules = self.s, await self.store.shop_rules(e.shop_id)
        at_cap = shop_rules is not None and e.coins >= rules.bill_limit(shop_rules, e.bill_satang)
        under = shop_rules is not None and rules.just_under(
            shop_rules, e.coins, s.just_under_percent
        )
        fact = Redemption(e.redemption_id, e.shop_id, e.wallet_id, e.coins, at_cap, under,
                          e.occurred_at)  # fmt: skip
        if not await self.store.add_redemption(fact):
            return ()
        since, at, days = e.occurred_at - self.window, e.occurred_at, s.window_days
        pairs = await self.store.pair_at_cap(e.wallet_id, e.shop_id, since)
        w = await self.store.shop_window(e.shop_id, since, s.few_residents_top)
        found = [
            rules.pair_at_cap(e.wallet_id, e.shop_id, pairs, at, least=s.pair_at_cap_min,
                              days=days),
            rules.just_under_cap(e.shop_id, w, at, least=s.just_under_min,
                                 percent=s.just_under_share_percent, days=days),
            rules.few_residents(e.shop_id, w, at, top=s.few_residents_top,
                                percent=s.few_residents_percent,
                                min_coins=s.few_residents_min_coins, days=days),
        ]  # fmt: skip
        return [f for f in found if f is not None]

    async def _moved(self, e: Any) -> Sequence[Flag]:
        payer, payee, at = e.account_id, e.counter_account_id, e.occurred_at
        if not await self.store.add_edge(e.movement_id, payer, payee, e.amount, at):
            return ()
        since = at - self.window
        # Paths payee -> ... -> payer close a cycle through the new edge; every hop counts
        # the coins it carried in the window (a hop below the minimum ends the path).
        hop = await self.store.paid_to(payer, since, at + self.window)
        if hop.get(payee, 0) < self.s.cycle_min_coins:
            return ()
        found: list[Flag] = []
        seen: set[str] = set()

        async def walk(path: list[UUID], least: int) -> None:
            here = path[-1]
            nexts = await self.store.paid_to(here, since, at + self.window)
            for account, coins in sorted(nexts.items()):
                if coins < self.s.cycle_min_coins:
                    continue
                if account == payer:
                    flag = rules.coin_cycle(path, min(least, coins), at, days=self.s.window_days)
                    if flag.subject not in seen:
                        seen.add(flag.subject)
                        found.append(flag)
                elif account not in path and len(path) < self.s.cycle_max_accounts:
                    await walk([*path, account], min(least, coins))

        await walk([payer, payee], hop[payee])
        return found

    async def _opened(self, e: Any) -> Sequence[Flag]:
        s, at = self.s, e.occurred_at
        origins = {by: o for by in ORIGINS if (o := getattr(e, f"origin_{by}", None))}
        if not await self.store.add_signup(e.account_id, at, origins):
            return ()
        minutes = s.signup_window_minutes
        start = _window_start(at, minutes)
        opened = await self.store.signups(start, start + timedelta(minutes=minutes))
        found = [rules.signup_burst(start, opened, at, least=s.signup_burst_min,
                                    minutes=minutes)]  # fmt: skip
        # Look both sides of the sign-up's time: partitions arrive in any order.
        span = timedelta(minutes=s.signup_origin_minutes)
        for by, origin in origins.items():
            least = s.signup_device_min if by == "device" else s.signup_network_min
            signups = await self.store.signups_from(by, origin, at - span, at + span)
            found.append(rules.signup_origin_burst(by, origin, signups, at, least=least,
                                                   minutes=s.signup_origin_minutes))  # fmt: skip
        return [f for f in found if f is not None]

    async def _fares(self, fares: Sequence[Any]) -> list[Flag]:
        """``FarePaid`` events in order: each new fare's tap stored and judged against the
        pass's taps around its own time (validators upload offline taps late, so both
        sides), as one at a time would, in two round trips for all of them."""
        s = self.s
        span = timedelta(minutes=max(s.tap_validators_minutes, 1 + s.rapid_taps_seconds // 60))
        given = [(e.wallet_id, Tap(e.occurred_at, e.validator_id, e.trip_id)) for e in fares]
        stored = await self.store.add_taps(given)
        new: list[tuple[UUID, Tap]] = []  # a trip twice in the batch: its first counts
        for wallet, tap in given:
            if tap.trip_id in stored:
                stored.discard(tap.trip_id)
                new.append((wallet, tap))
        if not new:
            return []
        now = {tap.trip_id for _, tap in new}
        seen: dict[UUID, list[Tap]] = defaultdict(list)  # before this batch, then its own
        for wallet, tap in await self.store.taps_within(
            [(wallet, tap.at - span, tap.at + span) for wallet, tap in new]
        ):
            if tap.trip_id not in now:
                seen[wallet].append(tap)
        found: list[Flag | None] = []
        for wallet, tap in new:
            seen[wallet].append(tap)
            at = tap.at
            taps = [t for t in seen[wallet] if at - span <= t.at <= at + span]
            found += [
                rules.pass_on_many_validators(wallet, taps, at, least=s.tap_validators_min,
                                              minutes=s.tap_validators_minutes),
                rules.pass_rapid_taps(wallet, taps, at, least=s.rapid_taps_min,
                                      seconds=s.rapid_taps_seconds),
            ]  # fmt: skip
        return [f for f in found if f is not None]
