"""The operator's network: routes, buses, fare products and campaigns in one aggregate.

There is one bus operator with about ten buses on one or two routes, changed by an
administrator a few times a year: one aggregate keeps every rule about them in one place
(a bus runs on a known route, campaign windows never overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from .errors import AlreadyExists, InvalidSchedule, NotFound
from .fares import DEFAULT_PRODUCTS, Campaign, Fare, fare_for
from .ids import NETWORK_ID


@dataclass(frozen=True)
class Route:
    route_id: str
    name: str
    length_km: float


@dataclass(frozen=True)
class Bus:
    bus_id: str
    route_id: str


class Network(Aggregate):
    TOPIC = "kgo.transit.Network"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.Network.Created"
        products: dict[str, int]

    class RouteOpened(Aggregate.Event):
        TOPIC = "kgo.transit.Network.RouteOpened"
        route_id: str
        name: str
        length_km: float
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.routes[self.route_id] = Route(self.route_id, self.name, self.length_km)

    class BusRegistered(Aggregate.Event):
        TOPIC = "kgo.transit.Network.BusRegistered"
        bus_id: str
        route_id: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.buses[self.bus_id] = Bus(self.bus_id, self.route_id)

    class CampaignScheduled(Aggregate.Event):
        TOPIC = "kgo.transit.Network.CampaignScheduled"
        campaign_id: str
        starts_at: datetime
        ends_at: datetime
        coins: int
        baht_satang: int
        programme: str
        daily_cap: int | None
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.campaigns[self.campaign_id] = Campaign(
                self.campaign_id,
                self.starts_at,
                self.ends_at,
                self.coins,
                self.baht_satang,
                self.programme,
                self.daily_cap,
            )

    def __init__(self, products: dict[str, int]) -> None:
        self.products = dict(products)
        self.routes: dict[str, Route] = {}
        self.buses: dict[str, Bus] = {}
        self.campaigns: dict[str, Campaign] = {}

    @classmethod
    def create(cls) -> Network:
        return cls._create(cls.Created, id=NETWORK_ID, products=dict(DEFAULT_PRODUCTS))

    def open_route(self, route: Route, at: datetime) -> None:
        if route.route_id in self.routes:
            raise AlreadyExists(f"route {route.route_id!r} exists")
        if route.length_km <= 0:
            raise InvalidSchedule("a route is longer than 0 km")
        self.trigger_event(
            self.RouteOpened,
            route_id=route.route_id,
            name=route.name,
            length_km=route.length_km,
            occurred_at=at,
        )

    def register_bus(self, bus: Bus, at: datetime) -> None:
        if bus.bus_id in self.buses:
            raise AlreadyExists(f"bus {bus.bus_id!r} exists")
        self.route(bus.route_id)
        self.trigger_event(
            self.BusRegistered, bus_id=bus.bus_id, route_id=bus.route_id, occurred_at=at
        )

    def schedule(self, campaign: Campaign, at: datetime) -> None:
        if campaign.campaign_id in self.campaigns:
            raise AlreadyExists(f"campaign {campaign.campaign_id!r} exists")
        for other in self.campaigns.values():
            if campaign.overlaps(other):
                raise InvalidSchedule(f"overlaps campaign {other.campaign_id!r}")
        self.trigger_event(
            self.CampaignScheduled,
            campaign_id=campaign.campaign_id,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            coins=campaign.coins,
            baht_satang=campaign.baht_satang,
            programme=campaign.programme,
            daily_cap=campaign.daily_cap,
            occurred_at=at,
        )

    def route(self, route_id: str) -> Route:
        try:
            return self.routes[route_id]
        except KeyError:
            raise NotFound(f"route {route_id!r} does not exist") from None

    def bus(self, bus_id: str) -> Bus:
        try:
            return self.buses[bus_id]
        except KeyError:
            raise NotFound(f"bus {bus_id!r} does not exist") from None

    def fare(self, product: str, at: datetime) -> Fare:
        return fare_for(self.products, self.campaigns.values(), product, at)

    def baht_fare(self, product: str) -> Fare:
        return Fare(product, 0, self.products.get(product, self.products["regular"]))

    def campaign(self, campaign_id: str | None) -> Campaign | None:
        return None if campaign_id is None else self.campaigns.get(campaign_id)
