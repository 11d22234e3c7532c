"""Read models of what residents did: bus rides, shop redemptions, the mission funnel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .coarsening import Groups, coarsen
from .read_model_base import EventRows, Table, col, group_columns, read_model, rows_of, wallet
from .stats import bangkok, campaign_period, day_of

FARE_PAID = "kgo.transit.FarePaid.v1"
REDEEMED = "kgo.merchant.DiscountRedeemed.v1"
ENROLLED = "kgo.merchant.ShopEnrolled.v1"
COMPLETED = "kgo.missions.MissionCompleted.v1"
UNKNOWN = "unknown"
RIDE_METRICS = ["rides", "coins", "baht_satang"]
REDEMPTION_METRICS = ["redemptions", "coins", "discount_satang", "bill_satang"]


def _ride_columns() -> list[Any]:
    return [
        col("rides", "int64", "Fares paid (one per tap that paid)."),
        col("coins", "int64", "Coins paid in fares."),
        col("baht_satang", "int64", "Baht paid in fares, in satang."),
    ]


def ridership(events: EventRows, k: int) -> Table:
    groups = Groups(RIDE_METRICS)
    for row in rows_of(events, FARE_PAID):
        at = bangkok(row["ce_time"])
        day = at.date()
        groups.at(day=day, period=campaign_period(day), route_id=row["route_id"], hour=at.hour).add(
            row["wallet_id"], rides=1, coins=row["coins"], baht_satang=row["baht_satang"]
        )
    columns = [
        col("day", "date", "Bangkok calendar day of the tap."),
        col(
            "period",
            "string",
            "before, during or after the 1-baht campaign (9 June - 31 August 2022, Asia/Bangkok).",
        ),
        col("route_id", "string", "The bus route ('other': small groups of that day merged)."),
        col("hour", "int64", "Hour of the tap, Asia/Bangkok (null in the 'other' row)."),
        *_ride_columns(),
        *group_columns(k),
    ]
    rows = coarsen(groups, frame=["day", "period"], fine=["route_id", "hour"], k=k)
    return read_model("ridership", "Bus rides per day, route and hour.", columns, rows)


def ridership_daily(events: EventRows, k: int) -> Table:
    groups = Groups(RIDE_METRICS)
    for row in rows_of(events, FARE_PAID):
        day = day_of(row["ce_time"])
        groups.at(day=day, period=campaign_period(day)).add(
            row["wallet_id"], rides=1, coins=row["coins"], baht_satang=row["baht_satang"]
        )
    columns = [
        col("day", "date", "Bangkok calendar day."),
        col("period", "string", "before, during or after the 1-baht campaign."),
        *_ride_columns(),
        *group_columns(k),
    ]
    rows = coarsen(groups, frame=["day", "period"], fine=[], k=k)
    return read_model(
        "ridership_daily",
        "Bus rides per day, with the campaign period; days "
        f"with fewer than {k} riders are suppressed.",
        columns,
        rows,
    )


def _shops(events: EventRows) -> dict[str, Mapping[str, Any]]:
    shops: dict[str, Mapping[str, Any]] = {}
    for row in rows_of(events, wallet("AccountOpened")):
        if row.get("account_kind") == "shop" and row.get("external_ref"):
            shops[str(row["external_ref"])] = {"label": row.get("label")}
    for row in rows_of(events, ENROLLED):
        shops[str(row["shop_id"])] = row
    return shops


def shop_redemptions(events: EventRows, k: int) -> Table:
    shops, groups = _shops(events), Groups(REDEMPTION_METRICS)
    for row in rows_of(events, REDEEMED):
        shop = shops.get(str(row["shop_id"]), {})
        groups.at(
            shop_id=str(row["shop_id"]),
            label=shop.get("label") or UNKNOWN,
            district=shop.get("district") or UNKNOWN,
            category=shop.get("category") or UNKNOWN,
        ).add(
            row["wallet_id"],
            redemptions=1,
            coins=row["coins"],
            discount_satang=row["discount_satang"],
            bill_satang=row["bill_satang"],
        )
    columns = [
        col("shop_id", "string", "The shop (public; 'other': shops with fewer customers merged)."),
        col("label", "string", "The shop's trading name."),
        col("district", "string", "The shop's district."),
        col("category", "string", "The shop's category."),
        *_redemption_columns(),
        *group_columns(k),
    ]
    rows = coarsen(groups, frame=[], fine=["shop_id", "label", "district", "category"], k=k)
    return read_model(
        "shop_redemptions",
        f"Redemptions per shop; shops with fewer than {k} distinct customers merged into 'other'.",
        columns,
        rows,
    )


def district_redemptions(events: EventRows, k: int) -> Table:
    shops, groups = _shops(events), Groups(REDEMPTION_METRICS)
    for row in rows_of(events, REDEEMED):
        district = shops.get(str(row["shop_id"]), {}).get("district") or UNKNOWN
        groups.at(district=district).add(
            row["wallet_id"],
            redemptions=1,
            coins=row["coins"],
            discount_satang=row["discount_satang"],
            bill_satang=row["bill_satang"],
        )
    columns = [
        col(
            "district",
            "string",
            "The shops' district ('unknown': shop not enrolled in the "
            "export; 'other': small districts merged).",
        ),
        *_redemption_columns(),
        *group_columns(k),
    ]
    rows = coarsen(groups, frame=[], fine=["district"], k=k)
    return read_model(
        "district_redemptions",
        "Redemptions per district of the shop; districts "
        f"with fewer than {k} distinct customers merged into 'other'.",
        columns,
        rows,
    )


def _redemption_columns() -> list[Any]:
    return [
        col("redemptions", "int64", "Redemptions (coins paid part of a bill)."),
        col("coins", "int64", "Coins redeemed."),
        col("discount_satang", "int64", "Discounts given, in satang."),
        col("bill_satang", "int64", "The bills' total, in satang."),
    ]


FUNNEL = (
    ("accounts_opened", "Residents with a wallet."),
    ("completed_a_mission", "... who completed at least one mission."),
    ("rewarded_for_a_mission", "... and received a grant for a mission completion."),
    ("spent_coins", "... and spent coins (at a shop or on the bus)."),
)


def mission_funnel(events: EventRows, k: int) -> Table:
    opened = {
        r["account_id"]
        for r in rows_of(events, wallet("AccountOpened"))
        if r.get("account_kind") == "resident"
    }
    completions = {str(r["completion_id"]): r["wallet_id"] for r in rows_of(events, COMPLETED)}
    completed = opened & set(completions.values())
    rewarded = completed & {
        r["account_id"]
        for r in rows_of(events, wallet("CoinsGranted"))
        if completions.get(str(r.get("reference"))) == r["account_id"]
    }
    spent = rewarded & {
        r["account_id"]
        for r in rows_of(events, wallet("CoinsSpent"), wallet("HoldCaptured"))
        if r.get("account_kind") == "resident"
    }
    stages = (opened, completed, rewarded, spent)
    rows = [
        {
            "stage_order": i,
            "stage": name,
            "meaning": meaning,
            "residents": len(who) if len(who) >= k else None,
            "suppressed": len(who) < k,
        }
        for i, ((name, meaning), who) in enumerate(zip(FUNNEL, stages, strict=True), start=1)
    ]
    columns = [
        col("stage_order", "int64", "The stage's place in the funnel."),
        col("stage", "string", "The stage: " + ", ".join(name for name, _ in FUNNEL) + "."),
        col("meaning", "string", "What the stage counts."),
        col("residents", "int64", f"Residents at that stage (null when fewer than {k})."),
        col("suppressed", "bool", f"True when fewer than {k} residents."),
    ]
    return read_model(
        "mission_funnel",
        "From a wallet to a mission, its reward and a spend: "
        "residents at each stage, each stage within the one before.",
        columns,
        rows,
    )
