"""An independent fold of the raw events into what each read model should say, written
from the contracts (and the reference balance fold, kgo_contracts.fold), not from the
projection code."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from kgo_contracts.base import BANGKOK, ContractEvent
from kgo_contracts.fold import Ledger


def day(at: datetime) -> date:
    return at.astimezone(BANGKOK).date()


def upto(events: Sequence[ContractEvent], until: datetime | None) -> list[ContractEvent]:
    return [e for e in events if until is None or e.business_time() <= until]


def balances(events: Sequence[ContractEvent]) -> dict[str, tuple[int, int]]:
    ledger = Ledger()
    for i, e in enumerate(events):
        if e.wire_name.startswith("kgo.wallet."):
            ledger.apply(str(i), e.ce_type(), e.model_dump(mode="json"))
    return {a: (b.available, b.held) for a, b in ledger.balances.items()}


def kinds(events: Sequence[ContractEvent]) -> dict[str, str]:
    return {
        str(e.account_id): e.account_kind
        for e in events  # type: ignore[attr-defined]
        if e.wire_name == "kgo.wallet.AccountOpened"
    }


def supply(events: Sequence[ContractEvent]) -> dict[str, int]:
    by_kind: Counter[str] = Counter()
    kind = kinds(events)
    held = 0
    for account, (available, on_hold) in balances(events).items():
        by_kind[kind[account]] += available + on_hold
        held += on_hold
    minted = sum(e.amount for e in events if e.wire_name == "kgo.wallet.SupplyMinted")  # type: ignore[attr-defined]
    return {
        "minted": minted,
        "residents": by_kind["resident"],
        "shops": by_kind["shop"],
        "bus_operator": by_kind["operator"],
        "municipality": by_kind["municipality"],
        "issuer": by_kind["issuer"],
        "held": held,
    }


def daily_city(events: Sequence[ContractEvent]) -> dict[date, dict[str, int]]:
    out: dict[date, Counter[str]] = defaultdict(Counter)
    for e in events:
        name, d = e.wire_name.rsplit(".", 1)[1], day(e.business_time())
        x: Any = e
        if name == "SupplyMinted":
            out[d]["minted"] += x.amount
        elif name == "CoinsGranted":
            out[d]["granted"] += x.amount
        elif name in ("CoinsSpent", "HoldCaptured") and x.account_kind == "resident":
            out[d]["spent"] += x.amount
        elif name == "RedemptionVoided":
            out[d]["voided"] += x.coins
        elif name == "CoinsHeld":
            out[d]["held"] += x.amount
        elif name == "CoinsSettled":
            out[d]["settled"] += x.amount
    return {d: dict(c) for d, c in out.items()}


def redemptions_by_district(events: Sequence[ContractEvent]) -> dict[str, tuple[int, int, int]]:
    """district -> (redemptions, coins, residents), voided ones left out."""
    district = {
        e.shop_id: e.district
        for e in events  # type: ignore[attr-defined]
        if e.wire_name == "kgo.merchant.ShopEnrolled"
    }
    voided = {
        e.redemption_id
        for e in events  # type: ignore[attr-defined]
        if e.wire_name == "kgo.merchant.RedemptionVoided"
    }
    count: Counter[str] = Counter()
    coins: Counter[str] = Counter()
    who: dict[str, set[UUID]] = defaultdict(set)
    for e in events:
        x: Any = e
        if e.wire_name == "kgo.merchant.DiscountRedeemed" and x.redemption_id not in voided:
            d = district[x.shop_id]
            count[d] += 1
            coins[d] += x.coins
            who[d].add(x.wallet_id)
    return {d: (count[d], coins[d], len(who[d])) for d in count}


def rides(events: Sequence[ContractEvent]) -> dict[tuple[str, date, int, bool], int]:
    out: Counter[tuple[str, date, int, bool]] = Counter()
    for e in events:
        x: Any = e
        if e.wire_name == "kgo.transit.FarePaid":
            local = x.occurred_at.astimezone(BANGKOK)
            out[(x.route_id, local.date(), local.hour, x.campaign is not None)] += 1
    return dict(out)


def active_per_day(events: Sequence[ContractEvent]) -> dict[date, int]:
    acting = {
        "CoinsSpent",
        "CoinsHeld",
        "DiscountRedeemed",
        "FarePaid",
        "ActivityCheckedIn",
        "MissionCompleted",
    }
    who: dict[date, set[UUID]] = defaultdict(set)
    for e in events:
        x: Any = e
        name = e.wire_name.rsplit(".", 1)[1]
        if name not in acting:
            continue
        if e.wire_name.startswith("kgo.wallet.") and x.account_kind != "resident":
            continue
        who[day(x.occurred_at)].add(getattr(x, "wallet_id", None) or x.account_id)
    return {d: len(s) for d, s in who.items()}


def gini(values: list[int]) -> float:
    """Mean absolute difference over twice the mean (the textbook definition)."""
    n, mean = len(values), sum(values) / len(values)
    diff = sum(abs(a - b) for a in values for b in values)
    return diff / (2 * n * n * mean)


def resident_holdings(events: Sequence[ContractEvent]) -> list[int]:
    kind = kinds(events)
    held = balances(events)
    return [sum(held.get(a, (0, 0))) for a, k in kind.items() if k == "resident"]


def completions(events: Sequence[ContractEvent]) -> tuple[int, int]:
    """(paid completions, capped completions)."""
    paid = capped = 0
    for e in events:
        x: Any = e
        if e.wire_name == "kgo.missions.MissionCompleted":
            paid += 1
            capped += x.requested_reward is not None and x.reward < x.requested_reward
        elif e.wire_name == "kgo.missions.MissionRewardCapped":
            capped += 1
    return paid, capped
