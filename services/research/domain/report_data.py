"""What the report shows, computed from an export's read models alone (so anyone holding the
export computes the same figures): one :class:`Figure` per chart, with its caption."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .stats import CAMPAIGN_END, CAMPAIGN_START

Rows = Sequence[Mapping[str, Any]]
TableOf = Callable[[str], Rows]
Kind = Literal["bars", "lines", "lorenz", "funnel", "hbars", "ridership"]
NO_DATA = "No data in this export (or every group was too small to publish)."


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    title: str
    title_th: str
    kind: Kind
    caption: str
    x: list[Any] = field(default_factory=list)
    series: dict[str, list[float | None]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.x or all(v is None for s in self.series.values() for v in s)


def _published(rows: Rows) -> list[Mapping[str, Any]]:
    return [r for r in rows if not r.get("suppressed")]


def _total(values: Sequence[float | None]) -> float:
    return sum(v for v in values if v is not None)


def weekly_coins(table: TableOf) -> Figure:
    rows = sorted(_published(table("weekly_flows")), key=lambda r: r["week_start"])
    x = [r["week_start"] for r in rows]
    granted = [r["coins_granted"] for r in rows]
    spent = [r["coins_spent"] for r in rows]
    caption = (
        f"Over {len(x)} published weeks residents received {_total(granted):,.0f} coins in "
        f"grants and spent {_total(spent):,.0f} at shops and on the bus."
        if x
        else NO_DATA
    )
    return Figure("weekly_coins", "Coins granted and spent per week",
                  "เหรียญที่ได้รับและใช้จ่ายรายสัปดาห์", "bars", caption, x,
                  {"granted": granted, "spent": spent})  # fmt: skip


def ridership(table: TableOf) -> Figure:
    rows = sorted(_published(table("ridership_daily")), key=lambda r: r["day"])
    x = [r["day"] for r in rows]
    rides = [r["rides"] for r in rows]
    means: dict[str, float] = {}
    for period in ("before", "during", "after"):
        values = [r["rides"] for r in rows if r["period"] == period]
        if values:
            means[period] = sum(values) / len(values)
    parts = [f"{p} {m:,.1f}" for p, m in means.items()]
    caption = (
        f"Bus rides paid per day. The 1-baht campaign ran {CAMPAIGN_START:%d %B} to "
        f"{CAMPAIGN_END:%d %B %Y} (shaded). Mean rides per published day: " + ", ".join(parts) + "."
        if x
        else NO_DATA
    )
    return Figure("ridership", "Bus ridership before, during and after the 1-baht campaign",
                  "ผู้โดยสารรถเมล์ ก่อน ระหว่าง และหลังโครงการรถเมล์ 1 บาท", "ridership",
                  caption, x, {"rides": rides},
                  {"campaign": (CAMPAIGN_START, CAMPAIGN_END), "means": means})  # fmt: skip


def gini_over_time(table: TableOf) -> Figure:
    rows = sorted(_published(table("holdings_weekly")), key=lambda r: r["week_start"])
    x = [r["week_start"] for r in rows]
    values = [r["gini"] for r in rows]
    caption = (
        f"Gini coefficient of residents' holdings at the end of each week (0: everyone holds "
        f"the same; 1: one resident holds everything). Last published week: {values[-1]:.3f} "
        f"over {rows[-1]['residents']:,} residents."
        if x
        else NO_DATA
    )
    return Figure("gini", "Inequality of residents' holdings (Gini), weekly",
                  "ความเหลื่อมล้ำของเหรียญที่ผู้อยู่อาศัยถือครอง (สัมประสิทธิ์จีนี)", "lines",
                  caption, x, {"gini": values})  # fmt: skip


def shop_concentration(table: TableOf) -> Figure:
    rows = sorted(table("shop_lorenz"), key=lambda r: r["position"])
    x = [0.0] + [r["shops_share"] for r in rows]
    y: list[float | None] = [0.0] + [r["coins_share_cumulative"] for r in rows]
    coins = [r["coins"] for r in rows]
    top10 = sum(sorted(coins, reverse=True)[:10]) / sum(coins) if sum(coins) else None
    caption = (
        f"Lorenz curve of the coins residents spent at {len(rows):,} shops: the top 10 shops "
        f"received {top10:.0%} of them. The diagonal would be every shop receiving the same."
        if rows and top10 is not None
        else NO_DATA
    )
    return Figure("shop_concentration", "Shop concentration (Lorenz curve, top-10 share)",
                  "การกระจุกตัวของการใช้จ่ายในร้านค้า", "lorenz", caption,
                  x if rows else [], {"coins_share": y if rows else []},
                  {"top10_share": top10})  # fmt: skip


def mission_funnel(table: TableOf) -> Figure:
    rows = sorted(table("mission_funnel"), key=lambda r: r["stage_order"])
    x = [r["stage"].replace("_", " ") for r in rows]
    values = [r["residents"] for r in rows]
    known = [v for v in values if v is not None]
    caption = (
        "Residents at each stage, each within the one before: a wallet, a completed mission, "
        "its reward, a spend. Stages of fewer residents than the threshold are not shown."
        if known
        else NO_DATA
    )
    return Figure("mission_funnel", "Mission funnel", "ลำดับขั้นภารกิจ", "funnel", caption, x,
                  {"residents": values})  # fmt: skip


def district_redemptions(table: TableOf) -> Figure:
    rows = sorted(_published(table("district_redemptions")), key=lambda r: -(r["coins"] or 0))
    x = [r["district"] for r in rows]
    coins = [r["coins"] for r in rows]
    caption = (
        f"Coins redeemed at shops per district ({_total(coins):,.0f} in all); districts with "
        "few customers are merged into 'other'."
        if x
        else NO_DATA
    )
    return Figure("district_redemptions", "Redemptions by district", "การใช้เหรียญแยกตามอำเภอ",
                  "hbars", caption, x, {"coins": coins})  # fmt: skip


FIGURES: tuple[Callable[[TableOf], Figure], ...] = (
    weekly_coins, ridership, gini_over_time, shop_concentration, mission_funnel,
    district_redemptions,
)  # fmt: skip
