"""A synthetic city history for the projections' tests, written independently of the
projection code: a small ledger that numbers each account's entries and carries its balance
after each one, and the merchant, missions and transit facts beside it.

The story: genesis, a welcome and a bus budget, ``residents`` residents registered over
three weeks of June 2022, welcome grants, missions published and completed (one capped),
shops in three districts (small and large), redemptions through holds (some voided), bus
fares inside and outside the 1-baht campaign, check-ins, a settlement.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4, uuid5

from kgo_contracts import merchant as mc
from kgo_contracts import missions as ms
from kgo_contracts import transit as tr
from kgo_contracts import wallet as w
from kgo_contracts.base import BANGKOK, ContractEvent

NS = UUID("0b6f1c38-3a52-4d3a-9a7e-3c1f0e2d4b5a")
START = datetime(2022, 6, 6, 8, 0, tzinfo=BANGKOK)  # a Monday
DISTRICTS = ("Mueang Khon Kaen", "Ban Phai", "Chum Phae")
CAMPAIGN_END = datetime(2022, 6, 19, 23, 59, 59, tzinfo=BANGKOK)


@dataclass
class _Account:
    id: UUID
    kind: str
    version: int = 0
    available: int = 0
    held: int = 0


@dataclass
class History:
    seed: int = 7
    events: list[ContractEvent] = field(default_factory=list)
    accounts: dict[UUID, _Account] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def id(self, name: str) -> UUID:
        return uuid5(NS, f"{self.seed}:{name}")

    def _common(self, account: _Account, at: datetime) -> dict[str, Any]:
        account.version += 1
        return {
            "account_id": account.id,
            "account_kind": account.kind,
            "account_version": account.version,
            "occurred_at": at,
        }

    def open(self, name: str, kind: str, at: datetime, **fields: Any) -> UUID:
        account = _Account(self.id(name), kind)
        self.accounts[account.id] = account
        self.events.append(w.AccountOpened(**self._common(account, at), **fields))
        return account.id

    def _leg(
        self,
        cls: type[w.LedgerEntry],
        account: _Account,
        amount: int,
        d_available: int,
        d_held: int,
        at: datetime,
        **fields: Any,
    ) -> None:
        account.available += d_available * amount
        account.held += d_held * amount
        assert account.available >= 0 and account.held >= 0
        self.events.append(
            cls(
                **self._common(account, at),
                amount=amount,
                available_after=account.available,
                held_after=account.held,
                **fields,
            )
        )

    def move(
        self,
        debit: type[w.LegWithCounterparty],
        credit: type[w.LegWithCounterparty],
        payer: UUID,
        payee: UUID,
        amount: int,
        at: datetime,
        *,
        debit_from_held: bool = False,
        **fields: Any,
    ) -> UUID:
        movement = uuid4()
        a, b = self.accounts[payer], self.accounts[payee]
        dr = (0, -1) if debit_from_held else (-1, 0)
        self._leg(
            debit,
            a,
            amount,
            *dr,
            at,
            movement_id=movement,
            counter_account_id=b.id,
            counter_account_kind=b.kind,
            **fields,
        )
        self._leg(
            credit,
            b,
            amount,
            1,
            0,
            at,
            movement_id=movement,
            counter_account_id=a.id,
            counter_account_kind=a.kind,
            **{k: v for k, v in fields.items() if k != "hold_id" or credit is w.PaymentReceived},
        )
        return movement

    def balance(self, account: UUID) -> int:
        return self.accounts[account].available


def build(residents: int = 40, seed: int = 7) -> History:
    h = History(seed)
    rng = h.rng
    t = START - timedelta(days=1)
    issuer = h.open("issuer", "issuer", t, label="KKTT")
    h._leg(
        w.SupplyMinted,
        h.accounts[issuer],
        1_000_000,
        1,
        0,
        t,
        movement_id=uuid4(),
        total_supply=1_000_000,
    )
    city = h.open("municipality", "municipality", t, label="Khon Kaen City")
    h.move(
        w.CoinsTransferredOut, w.CoinsTransferredIn, issuer, city, 1_000_000, t, purpose="genesis"
    )
    budgets = {}
    for programme, amount in (("welcome", 600_000), ("one-baht-bus-2022", 100_000)):
        budgets[programme] = h.open(
            f"budget-{programme}", "budget", t, programme=programme, label=programme
        )
        h.move(
            w.CoinsTransferredOut,
            w.CoinsTransferredIn,
            city,
            budgets[programme],
            amount,
            t,
            purpose="allocation",
        )
    operator = h.open("operator", "operator", t, label="City bus", external_ref="city-bus")
    h.events.append(
        tr.CampaignScheduled(
            network_id=h.id("network"),
            campaign_id="one-baht-bus-2022",
            starts_at=START - timedelta(days=1),
            ends_at=CAMPAIGN_END,
            coins=20,
            baht_satang=100,
            programme="one-baht-bus-2022",
            daily_cap=2,
            occurred_at=t,
        )
    )
    shops = []
    for i in range(12):
        payee = h.open(f"shop-{i}", "shop", t, label=f"Shop {i}", external_ref=f"shop-{i}")
        shop_id = h.id(f"shop-ref-{i}")
        h.events.append(
            mc.ShopEnrolled(
                shop_id=shop_id,
                payee_account_id=payee,
                label=f"Shop {i}",
                category=("food_and_drink", "grocery", "retail")[i % 3],
                district=DISTRICTS[i % 3],
                latitude=16.4,
                longitude=102.8,
                size_class="small" if i % 4 else "large",
                coin_value_satang=100,
                max_coin_share_percent=50,
                occurred_at=t,
            )
        )
        shops.append((shop_id, payee))
    mission = h.id("mission-first-ride")
    activity_mission = h.id("mission-festival")
    for m, code in ((mission, "first-ride"), (activity_mission, "festival")):
        h.events.append(
            ms.MissionPublished(
                mission_id=m,
                revision=1,
                code=code,
                title_th=code,
                title_en=code.title(),
                reward=30,
                starts_at=t,
                limit=1,
                period="once",
                campaign="welcome",
                programme="welcome",
                rule=ms.MissionRule(kind="first_time", event="fare_paid"),
                occurred_at=t,
            )
        )
    activity = h.id("activity-festival")
    h.events.append(
        ms.ActivityScheduled(
            activity_id=activity,
            mission_id=activity_mission,
            code="FEST",
            title_th="fest",
            title_en="Festival",
            reward=30,
            programme="welcome",
            starts_at=START,
            ends_at=START + timedelta(days=1),
            rotating_code=False,
            occurred_at=t,
        )
    )

    # Each resident's actions are planned with their business time, then run in time order,
    # so every account's entries are numbered in the order they happened.
    plan: list[tuple[datetime, int, Callable[[], None]]] = []

    def later(at: datetime, action: Callable[[], None]) -> None:
        plan.append((at, len(plan), action))

    for i in range(residents):
        opened = START + timedelta(days=rng.randrange(0, 18), hours=rng.randrange(0, 10))
        wallet = h.id(f"resident-{i}")

        def register(i: int = i, opened: datetime = opened) -> None:
            h.open(f"resident-{i}", "resident", opened)
            h.move(
                w.GrantDisbursed,
                w.CoinsGranted,
                budgets["welcome"],
                h.id(f"resident-{i}"),
                100,
                opened,
                programme="welcome",
                reason="signup",
                reference=f"signup-{i}",
            )

        later(opened, register)
        at = opened + timedelta(hours=1)
        for n in range(rng.randrange(0, 4)):  # redemptions
            shop_id, payee = shops[rng.randrange(0, len(shops) if i % 2 else 3)]
            at = at + timedelta(hours=rng.randrange(1, 30))
            later(
                at,
                partial(
                    _redeem,
                    h,
                    wallet,
                    shop_id,
                    payee,
                    rng.randrange(5, 20),
                    at,
                    f"{i}-{n}",
                    rng.random() < 0.15,
                ),
            )
        for n in range(rng.randrange(0, 5)):  # bus rides
            at = at + timedelta(hours=rng.randrange(1, 20))
            later(at, partial(_ride, h, wallet, operator, budgets["welcome"], mission, at, i, n))
        if i % 3 == 0:
            later(
                opened + timedelta(minutes=30),
                partial(
                    h.events.append,
                    ms.ActivityCheckedIn(
                        check_in_id=h.id(f"check-in-{i}"),
                        activity_id=activity,
                        wallet_id=wallet,
                        method="code",
                        occurred_at=opened + timedelta(minutes=30),
                    ),
                ),
            )
    for _, _, action in sorted(plan, key=lambda p: (p[0], p[1])):
        action()
    end = START + timedelta(days=25)
    coins = h.balance(operator)
    if coins:
        h.move(
            w.SettlementPaid,
            w.CoinsSettled,
            operator,
            budgets["one-baht-bus-2022"],
            coins,
            end,
            programme="one-baht-bus-2022",
            baht_satang=coins * 100,
            payment_reference="bank-1",
        )
    return h


def _redeem(
    h: History,
    wallet: UUID,
    shop_id: UUID,
    payee: UUID,
    coins: int,
    at: datetime,
    ref: str,
    void: bool,
) -> None:
    if h.balance(wallet) < coins:
        return
    hold = uuid4()
    h._leg(
        w.CoinsHeld,
        h.accounts[wallet],
        coins,
        -1,
        1,
        at,
        movement_id=uuid4(),
        hold_id=hold,
        payee_account_id=payee,
        expires_at=at + timedelta(minutes=2),
        reference=f"r-{ref}",
    )
    h.move(
        w.HoldCaptured,
        w.PaymentReceived,
        wallet,
        payee,
        coins,
        at,
        debit_from_held=True,
        hold_id=hold,
        reference=f"r-{ref}",
    )
    redemption = h.id(f"redemption-{ref}")
    h.events.append(
        mc.DiscountRedeemed(
            redemption_id=redemption,
            shop_id=shop_id,
            wallet_id=wallet,
            hold_id=hold,
            coins=coins,
            discount_satang=coins * 100,
            bill_satang=coins * 400,
            occurred_at=at,
        )
    )
    if void:
        movement = h.move(
            w.RefundPaid, w.CoinsRefunded, payee, wallet, coins, at, reference=f"void-{ref}"
        )
        h.events.append(
            mc.RedemptionVoided(
                shop_id=shop_id,
                redemption_id=redemption,
                wallet_id=wallet,
                movement_id=movement,
                coins=coins,
                discount_satang=coins * 100,
                bill_satang=coins * 400,
                occurred_at=at,
            )
        )


def _ride(
    h: History,
    wallet: UUID,
    operator: UUID,
    budget: UUID,
    mission: UUID,
    at: datetime,
    i: int,
    n: int,
) -> None:
    in_campaign = at <= CAMPAIGN_END and h.balance(wallet) >= 20
    trip = uuid4()
    if in_campaign:
        h.move(w.CoinsSpent, w.PaymentReceived, wallet, operator, 20, at, reference=str(trip))
    h.events.append(
        tr.FarePaid(
            trip_id=trip,
            wallet_id=wallet,
            validator_id="V1",
            route_id=f"R{n % 2 + 1}",
            fare_product="one-baht-bus-2022" if in_campaign else "regular",
            coins=20 if in_campaign else 0,
            baht_satang=100 if in_campaign else 1500,
            campaign="one-baht-bus-2022" if in_campaign else None,
            occurred_at=at,
            offline=False,
        )
    )
    if n == 0:
        done = h.id(f"completion-{i}")
        capped = i % 7 == 0
        h.events.append(
            ms.MissionCompleted(
                completion_id=done,
                wallet_id=wallet,
                mission_id=mission,
                programme="welcome",
                period="once",
                reward=10 if capped else 30,
                requested_reward=30 if capped else None,
                cut_reason="campaign_cap" if capped else None,
                campaign="welcome",
                occurred_at=at,
            )
        )
        h.move(
            w.GrantDisbursed,
            w.CoinsGranted,
            budget,
            wallet,
            10 if capped else 30,
            at,
            programme="welcome",
            reason="mission",
            reference=str(done),
        )
