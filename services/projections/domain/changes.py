"""What one batch of events changes in the read models: rows to insert and sums to add,
computed in memory so the adapter writes each table with one set-based statement.

Business time is each event's own ``occurred_at`` (a validator's tap time for fares); days,
weeks and months are Bangkok ones (weeks start on Monday, named by that Monday's date).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from kgo_contracts.base import BANGKOK
from kgo_contracts.fold import EFFECTS

#: Daily public totals, in this order (see README).
DAILY_FIELDS = ("minted", "granted", "spent", "voided", "held", "settled")
#: Wire names whose coins a resident receives (grants and shops' rewards).
RECEIVED = {"kgo.wallet.CoinsGranted", "kgo.wallet.CoinsRewarded"}
#: Wire names whose coins a resident spends (direct spends and captured holds).
SPENT = {"kgo.wallet.CoinsSpent", "kgo.wallet.HoldCaptured"}
#: Events that show a resident acting on a Bangkok day (active residents).
ACTIVE = {
    "kgo.wallet.CoinsSpent",
    "kgo.wallet.CoinsHeld",
    "kgo.merchant.DiscountRedeemed",
    "kgo.transit.FarePaid",
    "kgo.missions.ActivityCheckedIn",
    "kgo.missions.MissionCompleted",
}


def bangkok_date(at: datetime) -> date:
    return at.astimezone(BANGKOK).date()


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_of(day: date) -> date:
    return day.replace(day=1)


@dataclass
class Changes:
    """Rows and sums of one batch, per table (row tuples in the tables' column order)."""

    accounts: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    #: account -> [Δavailable, Δheld, last version, available_after, held_after, latest at]
    balances: dict[UUID, list[Any]] = field(default_factory=dict)
    #: (day, account kind) -> [Δ coins held by that kind, coins spent by that kind]
    flows: dict[tuple[date, str], list[int]] = field(default_factory=lambda: defaultdict(_zeros2))
    #: (day, programme or '*') -> DAILY_FIELDS sums
    daily: dict[tuple[date, str], list[int]] = field(default_factory=lambda: defaultdict(_zeros6))
    grants: list[tuple[Any, ...]] = field(default_factory=list)
    completions: list[tuple[Any, ...]] = field(default_factory=list)
    #: mission -> its row at the batch's highest revision (one row a key: an upsert of two
    #: rows with one key in one statement fails)
    missions: dict[UUID, tuple[Any, ...]] = field(default_factory=dict)
    retired: list[tuple[Any, ...]] = field(default_factory=list)
    activities: list[tuple[Any, ...]] = field(default_factory=list)
    check_ins: list[tuple[Any, ...]] = field(default_factory=list)
    shops: list[tuple[Any, ...]] = field(default_factory=list)
    shop_status: list[tuple[Any, ...]] = field(default_factory=list)
    redemptions: list[tuple[Any, ...]] = field(default_factory=list)
    voids: list[tuple[Any, ...]] = field(default_factory=list)
    fares: list[tuple[Any, ...]] = field(default_factory=list)
    #: campaign -> its row as last scheduled in the batch
    campaigns: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    active_days: set[tuple[UUID, date]] = field(default_factory=set)
    #: (resident, week) -> [received, spent]
    resident_weeks: dict[tuple[UUID, date], list[int]] = field(
        default_factory=lambda: defaultdict(_zeros2)
    )
    latest: datetime | None = None

    def see(self, at: datetime) -> None:
        if self.latest is None or at > self.latest:
            self.latest = at


def _zeros2() -> list[int]:
    return [0, 0]


def _zeros6() -> list[int]:
    return [0] * len(DAILY_FIELDS)


def fold_batch(events: list[tuple[str, Any]]) -> Changes:
    """The changes of ``(wire name, contract event)`` pairs, in per-partition order."""
    changes = Changes()
    latest: datetime | None = None
    for name, event in events:
        at: datetime = event.occurred_at
        if latest is None or at > latest:
            latest = at
        day = bangkok_date(at)
        if name.startswith("kgo.wallet."):
            _wallet(changes, name, event, day)
            if name in ACTIVE and event.account_kind == "resident":
                changes.active_days.add((event.account_id, day))
            continue
        if name.startswith("kgo.missions."):
            _missions(changes, name, event)
        elif name.startswith("kgo.merchant."):
            _merchant(changes, name, event, day)
        elif name.startswith("kgo.transit."):
            _transit(changes, name, event)
        if name in ACTIVE:
            # Read from the model's fields: a missing attribute on a pydantic model is slow.
            changes.active_days.add((event.__dict__["wallet_id"], day))
    if latest is not None:
        changes.see(latest)
    return changes


def _wallet(changes: Changes, name: str, e: Any, day: date) -> None:
    if name == "kgo.wallet.AccountOpened":
        changes.accounts.append(
            (e.account_id, e.account_kind, e.programme, e.label, e.external_ref, e.occurred_at)
        )
        return
    effect = EFFECTS.get(name)
    if effect is None:
        return
    d_available, d_held = effect[0] * e.amount, effect[1] * e.amount
    changes.entries.append(
        (e.account_id, e.account_version, e.occurred_at, name.rsplit(".", 1)[1], e.amount,
         d_available, d_held, e.available_after, e.held_after, e.movement_id)
    )  # fmt: skip
    balance = changes.balances.setdefault(e.account_id, [0, 0, 0, 0, 0, e.occurred_at])
    balance[0] += d_available
    balance[1] += d_held
    if e.account_version > balance[2]:
        balance[2:5] = [e.account_version, e.available_after, e.held_after]
    if e.occurred_at > balance[5]:
        balance[5] = e.occurred_at
    kind = e.account_kind
    flow = changes.flows[(day, kind)]
    flow[0] += d_available + d_held
    totals = changes.daily[(day, "*")]
    if name == "kgo.wallet.SupplyMinted":
        totals[0] += e.amount
    elif name == "kgo.wallet.CoinsGranted":
        totals[1] += e.amount
        changes.daily[(day, e.programme)][1] += e.amount
        changes.grants.append(
            (e.movement_id, e.account_id, e.programme, e.reason, e.reference, e.amount,
             e.occurred_at)
        )  # fmt: skip
    elif name == "kgo.wallet.CoinsHeld" and kind == "resident":
        totals[4] += e.amount
    elif name == "kgo.wallet.CoinsSettled":
        totals[5] += e.amount
        changes.daily[(day, e.programme)][5] += e.amount
    if kind == "resident" and name in SPENT:
        flow[1] += e.amount
        totals[2] += e.amount
        changes.resident_weeks[(e.account_id, week_of(day))][1] += e.amount
    if kind == "resident" and name in RECEIVED:
        changes.resident_weeks[(e.account_id, week_of(day))][0] += e.amount


def _missions(changes: Changes, name: str, e: Any) -> None:
    if name in ("kgo.missions.MissionPublished", "kgo.missions.MissionChanged"):
        seen = changes.missions.get(e.mission_id)
        if seen is None or e.revision >= seen[1]:
            changes.missions[e.mission_id] = (
                e.mission_id, e.revision, e.code, e.title_en, e.campaign, e.programme,
                e.reward, e.rule.kind, e.occurred_at,
            )  # fmt: skip
    elif name == "kgo.missions.MissionRetired":
        changes.retired.append((e.mission_id, e.occurred_at))
    elif name == "kgo.missions.MissionCompleted":
        capped = e.requested_reward is not None and e.reward < e.requested_reward
        changes.completions.append(
            (e.completion_id, e.wallet_id, e.mission_id, e.programme, e.campaign, e.reward,
             e.requested_reward or e.reward, capped, e.occurred_at)
        )  # fmt: skip
    elif name == "kgo.missions.MissionRewardCapped":
        changes.completions.append(
            (e.completion_id, e.wallet_id, e.mission_id, e.programme, e.campaign, 0,
             e.requested_reward, True, e.occurred_at)
        )  # fmt: skip
    elif name == "kgo.missions.ActivityScheduled":
        changes.activities.append((e.activity_id, e.mission_id, e.code, e.title_en, e.starts_at))
    elif name == "kgo.missions.ActivityCheckedIn":
        changes.check_ins.append((e.check_in_id, e.activity_id, e.wallet_id, e.occurred_at))


def _merchant(changes: Changes, name: str, e: Any, day: date) -> None:
    if name == "kgo.merchant.ShopEnrolled":
        changes.shops.append(
            (e.shop_id, e.payee_account_id, e.label, e.category, e.district, e.size_class,
             e.occurred_at)
        )  # fmt: skip
    elif name in ("kgo.merchant.ShopSuspended", "kgo.merchant.ShopReinstated"):
        changes.shop_status.append((e.shop_id, name.endswith("Suspended"), e.occurred_at))
    elif name == "kgo.merchant.DiscountRedeemed":
        changes.redemptions.append(
            (e.redemption_id, e.shop_id, e.wallet_id, e.coins, e.discount_satang,
             e.bill_satang, e.occurred_at)
        )  # fmt: skip
    elif name == "kgo.merchant.RedemptionVoided":
        changes.voids.append((e.redemption_id, e.occurred_at))
        changes.daily[(day, "*")][3] += e.coins


def _transit(changes: Changes, name: str, e: Any) -> None:
    if name == "kgo.transit.FarePaid":
        changes.fares.append(
            (e.trip_id, e.wallet_id, e.route_id, e.fare_product, e.coins, e.baht_satang,
             e.campaign, bool(e.offline), e.occurred_at)
        )  # fmt: skip
    elif name == "kgo.transit.CampaignScheduled":
        changes.campaigns[e.campaign_id] = (
            e.campaign_id, e.starts_at, e.ends_at, e.coins, e.baht_satang, e.programme
        )  # fmt: skip


__all__ = ["DAILY_FIELDS", "Changes", "bangkok_date", "fold_batch", "month_of", "week_of"]
