"""The city's plan: pure and deterministic. From a seed and a size it decides who lives in the
city, which shops and buses there are, and every action of every simulated day. Nothing here
does I/O; the runner (runner.py) carries the actions out over the public APIs.

Every random choice comes from a ``random.Random`` seeded with ``(seed, purpose, ...)``
(a string: Python hashes strings for seeding with SHA-512, stable across runs and machines),
so the same seed gives the same city and the same day's actions, whatever ran before."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from kgo_runtime.clock import BANGKOK

DISTRICTS = (
    "Nai Mueang",
    "Sila",
    "Ban Pet",
    "Ban Thum",
    "Tha Phra",
    "Samran",
    "Ban Kho",
    "Phra Lap",
    "Nong Toom",
    "Don Han",
    "Muang Kao",
    "Ban Wa",
)
SHOP_CATEGORIES = ("food", "grocery", "market stall", "pharmacy", "café", "salon", "hardware")


@dataclass(frozen=True)
class CityConfig:
    """The seed article's figures as defaults (scaled where they are per-city)."""

    seed: int = 2022
    residents: int = 1_000
    shops: int = 200
    buses: int = 10
    route_km: int = 17
    riders_per_day: int = 1_200  # planned for the whole city (the article's figure)
    city_population: int = 120_000  # the riders' figure scales with residents / this
    fare_regular_satang: int = 1_500
    fare_student_satang: int = 1_000
    campaign_fare_coins: int = 50  # 50 KGO + 1 baht during the 1-baht campaign
    campaign_fare_satang: int = 100
    campaign_start: date = date(2022, 6, 9)
    campaign_end: date = date(2022, 8, 31)
    start: date = date(2022, 5, 19)  # three weeks before
    end: date = date(2022, 9, 21)  # three weeks after
    churn: float = 0.2  # residents who sign up and never come back
    student_share: float = 0.25
    rider_share: float = 0.3
    offline_validators: int = 2  # of 2 per bus: these upload their taps later
    #: Riders who tap whatever their app shows and forget the coins an offline tap will
    #: take: the offline validator cannot tell, so their evening uploads come up short.
    careless_share: float = 0.05

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def in_campaign(self, day: date) -> bool:
        return self.campaign_start <= day <= self.campaign_end


PRESETS = {
    # The seed article: 1,000 residents by default, 200+ shops.
    "article": {"residents": 1_000, "shops": 200},
    # The programme's later published size: about 7,000 users and over 600 shops.
    "published": {"residents": 7_000, "shops": 620},
    # What `kgo demo` runs: about five minutes on a 2-core machine.
    "demo": {"residents": 300, "shops": 40},
}


def rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def national_id(seed: int, index: int) -> str:
    from services.wallet.entrypoints.http.thai_ids import national_id_check_digit

    first = f"1{(seed * 104_729 + index) % 10**11:011d}"
    return first + str(national_id_check_digit(first))


def phone(seed: int, index: int) -> str:
    return f"08{(seed * 7_919 + index) % 10**8:08d}"


@dataclass(frozen=True)
class Resident:
    index: int
    signup_day: int  # day index
    churns: bool
    student: bool
    rider: bool
    shopper: float  # chance of paying at a shop on an active day
    activity: float  # chance of being active on a given day
    district: str
    careless: bool = False  # a rider who taps without looking at the app (config.careless_share)

    @property
    def actor(self) -> str:
        return f"r{self.index}"


@dataclass(frozen=True)
class Shop:
    index: int
    district: str
    category: str
    small: bool

    @property
    def external_ref(self) -> str:
        return f"sim-shop-{self.index:04d}"


@dataclass(frozen=True)
class Action:
    """One thing one actor does on one day; ``n`` numbers the actor's actions of the day."""

    kind: str  # signup, ride, pay, earn, check_in
    actor: str
    n: int
    resident: int | None = None
    shop: int | None = None
    coins: int = 0
    bill_satang: int = 0
    bus: int = 0
    validator: int = 0
    at: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class OperatorPlan:
    """What the operators do on one day, around the residents' actions."""

    publish_missions: bool = False
    activity: str | None = None  # a municipal activity residents check in at
    festival: bool = False  # the festival's bulk award, after the day
    settle: bool = False  # shops and the bus operator settle (weekly)


@dataclass(frozen=True)
class DayPlan:
    index: int
    day: date
    campaign: bool
    operators: OperatorPlan
    actions: tuple[Action, ...]

    def at(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day, time(hour, minute), BANGKOK)


class City:
    def __init__(self, config: CityConfig) -> None:
        self.config = config
        r = rng(config.seed, "city")
        days = config.days
        self.residents: list[Resident] = []
        for index in range(config.residents):
            # Sign-ups come over time: a third before the campaign, most in its first weeks.
            u = r.random()
            if u < 0.3:
                signup = r.randrange(0, max(1, (config.campaign_start - config.start).days))
            else:
                signup = min(
                    days - 1,
                    int(r.expovariate(1 / 18)) + (config.campaign_start - config.start).days,
                )
            self.residents.append(
                Resident(
                    index=index,
                    signup_day=signup,
                    churns=r.random() < config.churn,
                    student=r.random() < config.student_share,
                    rider=r.random() < config.rider_share,
                    shopper=r.uniform(0.05, 0.35),
                    activity=r.uniform(0.2, 0.8),
                    district=r.choice(DISTRICTS),
                    # Its own draw: the rest of the city is the same whatever the share.
                    careless=rng(config.seed, "careless", index).random() < config.careless_share,
                )
            )
        self.shops = [
            Shop(i, r.choice(DISTRICTS), r.choice(SHOP_CATEGORIES), r.random() < 0.6)
            for i in range(config.shops)
        ]
        # Large shops get more customers than small ones.
        self._shop_weights = [1 if s.small else 4 for s in self.shops]
        self.festival_day = (date(2022, 7, 16) - config.start).days

    def plan(self, index: int) -> DayPlan:
        config = self.config
        day = config.day(index)
        campaign = config.in_campaign(day)
        r = rng(config.seed, "day", index)
        operators = OperatorPlan(
            publish_missions=index == 0,
            activity=f"sim-activity-{day.isoformat()}" if day.weekday() == 5 else None,
            festival=index == self.festival_day,
            settle=day.weekday() == 6,
        )
        base = datetime.combine(day, time(6, 0), BANGKOK)
        actions: list[Action] = []
        # Bus ridership: the planned 1,200 riders a day scaled to this city; the 1-baht
        # campaign doubles it on weekdays.
        ride_chance = min(
            0.9, 0.35 * (2.0 if campaign else 1.0) * (0.6 if day.weekday() >= 5 else 1)
        )
        for res in self.residents:
            if res.signup_day > index:
                continue
            n = 0
            if res.signup_day == index:
                actions.append(Action("signup", res.actor, n, res.index, at=base))
                n += 1
            elif res.churns or r.random() >= res.activity:
                continue
            minute = r.randrange(0, 14 * 60)
            if res.rider and r.random() < ride_chance:
                bus = r.randrange(config.buses)
                for leg in range(2):
                    at = base + timedelta(minutes=minute + leg * r.randrange(60, 480))
                    # The way back is on another bus (the same bus within minutes is a
                    # double tap, refused by the validator's guard).
                    back = (bus + leg) % config.buses
                    # A careless rider boards by the back door (the second validator, offline
                    # on some buses: it cannot decline a rider short of coins).
                    door = (leg + res.careless) % 2
                    actions.append(
                        Action("ride", res.actor, n, res.index, bus=back, validator=door, at=at)
                    )
                    n += 1
            if r.random() < res.shopper:
                shop = r.choices(range(len(self.shops)), self._shop_weights)[0]
                bill = r.randrange(40, 600) * 100
                coins = min(bill // 100 // 2, r.choice((10, 20, 20, 30, 50, 80)))
                at = base + timedelta(minutes=minute + 30)
                actions.append(
                    Action(
                        "pay",
                        res.actor,
                        n,
                        res.index,
                        shop=shop,
                        coins=coins,
                        bill_satang=bill,
                        at=at,
                    )
                )
                n += 1
                if r.random() < 0.15:
                    actions.append(
                        Action(
                            "earn",
                            res.actor,
                            n,
                            res.index,
                            shop=shop,
                            coins=r.choice((5, 10, 15)),
                            at=at,
                        )
                    )
                    n += 1
            if operators.activity and r.random() < 0.25:
                actions.append(
                    Action("check_in", res.actor, n, res.index, at=base + timedelta(hours=4))
                )
                n += 1
        return DayPlan(index, day, campaign, operators, tuple(actions))

    def festival_attendees(self, index: int) -> list[int]:
        """The residents a festival's bulk award pays (signed up by then, some 20%)."""
        r = rng(self.config.seed, "festival", index)
        return [res.index for res in self.residents if res.signup_day < index and r.random() < 0.2]


def idempotency_key(seed: int, day: int, actor: str, n: int, step: str = "") -> str:
    """Every action's key: (seed, day, actor, n[, step]); a resumed day repeats nothing."""
    return f"sim-{seed}-d{day}-{actor}-{n}" + (f"-{step}" if step else "")
