"""A synthetic history for tests: residents signing up, missions, bus rides before, during
and after the 1-baht campaign, redemptions at two shops, and one resident erased.

Every record is a valid contract event (on the contracts of this checkout), with consistent
account versions and after-figures, so it also folds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from kgo_contracts.base import BANGKOK, ContractEvent
from kgo_contracts.registry import BY_CE_TYPE
from kgo_contracts.wallet import (
    AccountOpened,
    CoinsGranted,
    CoinsSpent,
    CoinsTransferredIn,
    CoinsTransferredOut,
    GrantDisbursed,
    PaymentReceived,
    SupplyMinted,
)

from .domain.pseudonyms import ERASURE_TYPE

NS = UUID("0b6f7c1e-3c55-4c8e-9d1a-6a8f3b2c1d00")
SUPPLY = 1_000_000


def sid(name: str) -> UUID:
    return uuid5(NS, name)


@dataclass
class Story:
    events: list[ContractEvent] = field(default_factory=list)
    kinds: dict[UUID, str] = field(default_factory=dict)
    balance: Counter[UUID] = field(default_factory=Counter)
    version: Counter[UUID] = field(default_factory=Counter)
    residents: list[UUID] = field(default_factory=list)
    erased: UUID | None = None

    def _base(self, account: UUID, at: datetime) -> dict[str, Any]:
        self.version[account] += 1
        return {
            "account_id": account,
            "account_kind": self.kinds[account],
            "account_version": self.version[account],
            "occurred_at": at,
        }

    def open(self, account: UUID, kind: str, at: datetime, **extra: Any) -> UUID:
        self.kinds[account] = kind
        self.events.append(AccountOpened(**self._base(account, at), **extra))
        return account

    def entry(
        self,
        cls: type[ContractEvent],
        account: UUID,
        amount: int,
        sign: int,
        movement: UUID,
        at: datetime,
        counter: UUID | None = None,
        **extra: Any,
    ) -> None:
        self.balance[account] += sign * amount
        fields = {
            **self._base(account, at),
            "movement_id": movement,
            "amount": amount,
            "available_after": self.balance[account],
            "held_after": 0,
            **extra,
        }
        if counter is not None:
            fields |= {"counter_account_id": counter, "counter_account_kind": self.kinds[counter]}
        self.events.append(cls(**fields))

    def move(
        self,
        debit: type[ContractEvent],
        credit: type[ContractEvent],
        payer: UUID,
        payee: UUID,
        amount: int,
        at: datetime,
        name: str,
        **extra: Any,
    ) -> None:
        movement = sid(f"movement {name}")
        self.entry(debit, payer, amount, -1, movement, at, payee, **extra)
        self.entry(credit, payee, amount, +1, movement, at, payer, **extra)


def at(month: int, day: int, hour: int = 8, minute: int = 0) -> datetime:
    return datetime(2022, month, day, hour, minute, tzinfo=BANGKOK)


def synthetic_story(residents: int = 30) -> Story:
    s = Story()
    issuer, city = sid("issuer"), sid("municipality")
    welcome, bus = sid("budget welcome"), sid("budget bus")
    shops = [sid("shop-a"), sid("shop-b")]
    operator = sid("operator")
    t0 = at(5, 20, 6)
    s.open(issuer, "issuer", t0, label="KGO issuer")
    s.open(city, "municipality", t0, label="Khon Kaen Municipality")
    s.open(welcome, "budget", t0, programme="welcome", label="Welcome")
    s.open(bus, "budget", t0, programme="one-baht-bus-2022", label="1-baht bus")
    s.entry(SupplyMinted, issuer, SUPPLY, +1, sid("mint"), t0, total_supply=SUPPLY)
    s.move(
        CoinsTransferredOut,
        CoinsTransferredIn,
        issuer,
        city,
        SUPPLY,
        t0,
        "genesis",
        purpose="genesis",
    )
    s.move(
        CoinsTransferredOut,
        CoinsTransferredIn,
        city,
        welcome,
        900_000,
        t0,
        "alloc",
        purpose="allocation",
    )
    for i, shop in enumerate(shops):
        s.open(shop, "shop", t0, label=f"Shop {'AB'[i]}", external_ref=str(sid(f"ref shop-{i}")))
    s.open(operator, "operator", t0, label="Khon Kaen City Bus", external_ref="city-bus")
    missions = BY_CE_TYPE["kgo.missions.MissionCompleted.v1"]
    for i in range(residents):
        wallet = s.open(sid(f"resident {i}"), "resident", at(5, 25, 9) + timedelta(seconds=i))
        s.residents.append(wallet)
        s.move(
            GrantDisbursed,
            CoinsGranted,
            welcome,
            wallet,
            200,
            at(5, 25, 9) + timedelta(seconds=i),
            f"signup {i}",
            programme="welcome",
            reason="signup",
            reference=f"signup-{wallet}",
        )
        if i < 20:
            completion = sid(f"completion {i}")
            s.events.append(
                missions(
                    completion_id=completion,
                    wallet_id=wallet,
                    mission_id=sid("mission ride"),
                    programme="welcome",
                    period="2022-06",
                    reward=20,
                    occurred_at=at(6, 12, 10) + timedelta(seconds=i),
                )
            )
            s.move(
                GrantDisbursed,
                CoinsGranted,
                welcome,
                wallet,
                20,
                at(6, 12, 10) + timedelta(seconds=i),
                f"mission {i}",
                programme="welcome",
                reason="mission",
                reference=str(completion),
            )
    _rides(s, operator)
    _redemptions(s, shops)
    s.erased = s.residents[-1]
    return s


def _rides(s: Story, operator: UUID) -> None:
    fare = BY_CE_TYPE["kgo.transit.FarePaid.v1"]
    days = [at(6, 1), at(6, 2), at(6, 10), at(6, 11), at(7, 1), at(9, 5), at(9, 6)]
    for d, day in enumerate(days):
        campaign = at(6, 9, 0) <= day <= at(8, 31, 23)
        for i, wallet in enumerate(s.residents[: max(12, len(s.residents) // 2)]):
            when, trip = day + timedelta(seconds=i), sid(f"trip {d} {i}")
            coins = 10 if campaign else 0
            if coins:
                s.move(
                    CoinsSpent,
                    PaymentReceived,
                    wallet,
                    operator,
                    coins,
                    when,
                    f"fare {d} {i}",
                    reference=str(trip),
                )
            s.events.append(
                fare(
                    trip_id=trip,
                    wallet_id=wallet,
                    validator_id="V1",
                    route_id="7" if i % 3 else "12",
                    fare_product="one-baht-bus-2022" if campaign else "regular",
                    coins=coins,
                    baht_satang=100 if campaign else 1_500,
                    occurred_at=when,
                )
            )


def _redemptions(s: Story, shops: list[UUID]) -> None:
    redeemed = BY_CE_TYPE["kgo.merchant.DiscountRedeemed.v1"]
    refs = [sid("ref shop-0"), sid("ref shop-1")]
    for i, wallet in enumerate(s.residents[: max(18, len(s.residents) * 3 // 5)]):
        shop = 0 if i < 15 or (i >= 18 and i % 2) else 1
        when, redemption = at(6, 20, 12) + timedelta(seconds=i), sid(f"redemption {i}")
        s.move(
            CoinsSpent,
            PaymentReceived,
            wallet,
            shops[shop],
            15,
            when,
            f"redeem {i}",
            reference=str(redemption),
        )
        s.events.append(
            redeemed(
                redemption_id=redemption,
                shop_id=refs[shop],
                wallet_id=wallet,
                hold_id=sid(f"hold {i}"),
                coins=15,
                discount_satang=1_500,
                bill_satang=10_000,
                occurred_at=when,
            )
        )


def erasure_record(account: UUID, when: datetime) -> tuple[dict[str, str], bytes]:
    """Headers and value of a ``ResidentErased`` record, as the wallet publishes it."""
    import json

    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(sid(f"erased {account}")),
        "ce_source": "/kgo/wallet",
        "ce_type": ERASURE_TYPE,
        "ce_time": when.isoformat(),
        "ce_subject": str(account),
        "content-type": "application/json",
    }
    value = {
        "account_id": str(account),
        "account_kind": "resident",
        "account_version": 2,
        "occurred_at": when.isoformat(),
        "reference": "PDPA-2022-0001",
        "balance_disposition": "frozen",
        "coins_frozen": 0,
    }
    return headers, json.dumps(value).encode()
