"""An in-memory integrity store: the same questions as the Postgres one, over lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from services.projections.application.integrity import Redemption
from services.projections.domain.integrity import Flag, ShopRules, ShopWindow, Signup, Tap


class InMemoryIntegrityStore:
    def __init__(self) -> None:
        self.rules: dict[UUID, ShopRules] = {}
        self.redemptions: dict[UUID, Redemption] = {}
        self.voided: set[UUID] = set()
        self.edges: dict[UUID, tuple[UUID, UUID, int, datetime]] = {}
        self.opened: dict[UUID, datetime] = {}
        self.origins: dict[UUID, dict[str, str]] = {}
        self.fares: dict[UUID, tuple[UUID, Tap]] = {}
        self.flags: dict[UUID, Flag] = {}
        self.business_time: datetime | None = None

    async def shop_rules(self, shop: UUID) -> ShopRules | None:
        return self.rules.get(shop)

    async def save_shop_rules(self, shop: UUID, rules: ShopRules) -> None:
        self.rules[shop] = rules

    async def add_redemption(self, r: Redemption) -> bool:
        if r.redemption_id in self.redemptions:
            return False
        self.redemptions[r.redemption_id] = r
        return True

    async def void_redemption(self, redemption: UUID) -> None:
        self.voided.add(redemption)

    def _live(self, shop: UUID, since: datetime) -> list[Redemption]:
        live = [r for r in self.redemptions.values() if r.redemption_id not in self.voided]
        return [r for r in live if r.shop_id == shop and r.at >= since]

    async def pair_at_cap(self, wallet: UUID, shop: UUID, since: datetime) -> int:
        return sum(1 for r in self._live(shop, since) if r.wallet_id == wallet and r.at_cap)

    async def shop_window(self, shop: UUID, since: datetime, top: int) -> ShopWindow:
        live = self._live(shop, since)
        by: dict[UUID, int] = defaultdict(int)
        for r in live:
            by[r.wallet_id] += r.coins
        leaders = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return ShopWindow(len(live), sum(by.values()), sum(r.just_under for r in live), leaders)

    async def add_edge(
        self, movement: UUID, payer: UUID, payee: UUID, coins: int, at: datetime
    ) -> bool:
        if movement in self.edges:
            return False
        self.edges[movement] = (payer, payee, coins, at)
        return True

    async def paid_to(self, account: UUID, since: datetime, until: datetime) -> dict[UUID, int]:
        out: dict[UUID, int] = defaultdict(int)
        for payer, payee, coins, at in self.edges.values():
            if payer == account and since <= at <= until:
                out[payee] += coins
        return dict(out)

    async def add_signup(self, account: UUID, at: datetime, origins: dict[str, str]) -> bool:
        if account in self.opened:
            return False
        self.opened[account] = at
        self.origins[account] = dict(origins)
        return True

    async def signups_from(
        self, by: str, origin: str, since: datetime, until: datetime
    ) -> list[Signup]:
        return [
            Signup(at, account)
            for account, at in self.opened.items()
            if self.origins[account].get(by) == origin and since <= at <= until
        ]

    async def signups(self, since: datetime, until: datetime) -> int:
        return sum(1 for at in self.opened.values() if since <= at < until)

    async def add_taps(self, taps: Sequence[tuple[UUID, Tap]]) -> set[UUID]:
        stored = set()
        for wallet, tap in taps:
            if tap.trip_id not in self.fares:
                self.fares[tap.trip_id] = (wallet, tap)
                stored.add(tap.trip_id)
        return stored

    async def taps_within(
        self, windows: Sequence[tuple[UUID, datetime, datetime]]
    ) -> list[tuple[UUID, Tap]]:
        return [
            (w, t)
            for w, t in self.fares.values()
            if any(w == wallet and since <= t.at <= until for wallet, since, until in windows)
        ]

    async def keep(self, flag: Flag) -> None:
        self.flags[flag.flag_id] = flag

    async def seen(self, at: datetime) -> None:
        if self.business_time is None or at > self.business_time:
            self.business_time = at
