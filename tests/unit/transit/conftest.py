"""The transit application on an in-memory store, a fake wallet and a manual clock, with
Khon Kaen's network and the 1-baht bus campaign of 2022."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from kgo_runtime.clock import BANGKOK, ManualClock
from services.transit.adapters.digest import PassDigest
from services.transit.application.admin import NetworkAdmin
from services.transit.application.fares import FareCollector, FarePolicy, TapRequest
from services.transit.application.service import TransitApplication
from services.transit.application.views import TripView
from services.transit.domain.fares import Campaign
from services.transit.domain.taps import Tap

from .fakes import FakeWallet

UTC = UTC
CAMPAIGN_START = datetime(2022, 6, 9, 0, 0, 0, tzinfo=BANGKOK)
CAMPAIGN_END = datetime(2022, 8, 31, 23, 59, 59, tzinfo=BANGKOK)
ONE_BAHT_BUS = Campaign(
    "one-baht-bus-2022",
    CAMPAIGN_START,
    CAMPAIGN_END,
    coins=50,
    baht_satang=100,
    programme="one-baht-bus-2022",
    daily_cap=2,
)
MORNING = datetime(2022, 6, 10, 8, 40, tzinfo=BANGKOK)


@dataclass
class Transit:
    store: TransitApplication
    wallet: FakeWallet
    clock: ManualClock
    collector: FareCollector
    admin: NetworkAdmin
    digest: PassDigest
    taps: itertools.count[int] = field(default_factory=itertools.count)

    def request(
        self,
        pass_token: str,
        at: datetime = MORNING,
        *,
        bus: str = "bus-01",
        tap_id: str | None = None,
        product: str = "regular",
        offline: bool = False,
        validator: str | None = None,
    ) -> TapRequest:
        tap = Tap(
            tap_id or f"t{next(self.taps)}",
            validator or f"val-{bus}",
            bus,
            "kk-1",
            self.digest(pass_token),
            at,
            product,
            offline,
        )
        return TapRequest(tap, pass_token)

    async def tap(self, pass_token: str, at: datetime = MORNING, **kw: object) -> TripView:
        return await self.collector.tap(self.request(pass_token, at, **kw))  # type: ignore[arg-type]


def build_transit(
    campaign: Campaign | None = ONE_BAHT_BUS,
    store: TransitApplication | None = None,
    **policy: object,
) -> Transit:
    """Khon Kaen's network (one 17 km route, ten buses) and the campaign, on ``store``
    (in memory unless given: the integration tests pass one on PostgreSQL)."""
    store = store or TransitApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    wallet = FakeWallet()
    clock = ManualClock(MORNING)
    operator = UUID("00000000-0000-4000-8000-00000000b005")
    collector = FareCollector(store, wallet, clock, operator, FarePolicy(**policy))  # type: ignore[arg-type]
    admin = NetworkAdmin(store, clock)
    transit = Transit(store, wallet, clock, collector, admin, PassDigest(b"k" * 32))
    for decide in (
        lambda: admin.open_route("kk-1", "Khon Kaen city loop", 17.0),
        *[(lambda n=n: admin.register_bus(f"bus-{n:02}", "kk-1")) for n in range(1, 11)],
    ):
        _, _, aggregates = decide()
        store.save(*aggregates)
    if campaign is not None:
        _, _, aggregates = admin.schedule_campaign(campaign)
        store.save(*aggregates)
    return transit


@pytest.fixture
def transit() -> Transit:
    return build_transit()


__all__ = [
    "CAMPAIGN_END",
    "CAMPAIGN_START",
    "MORNING",
    "ONE_BAHT_BUS",
    "UTC",
    "Transit",
    "timedelta",
]
