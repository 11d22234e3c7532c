"""Routes of the query API. Every answer is ``{"as_of": {...}, ...}``; ``?snapshot=<name>``
reads a replayed past city (``kgo replay --until``) instead of the live one."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from kgo_contracts.base import BANGKOK
from kgo_runtime.access import Principal, Role, allow, forbidden
from kgo_runtime.problems import ProblemError, problem_responses
from services.projections.domain.measures import Suppression

from .context import Projections, projections

API_METADATA = {
    "title": "KGO projections",
    "description": "Read models of every KGO topic: supply, daily totals, missions, "
    "redemptions, ridership, active residents, fairness; balances at any past moment. Public "
    "figures withhold counts of fewer than k residents (k = 10 by default). Every answer "
    "carries `as_of`: the latest business time folded, the consumer's lag, the snapshot.",
}

Ctx = Annotated[Projections, Depends(projections)]
Snapshot = Annotated[
    str | None, Query(description="A replayed past city (`kgo replay --until`), read-only.")
]
PROBLEMS = problem_responses({404: "unknown snapshot or account", 503: "still starting"})
AUTH_PROBLEMS = problem_responses(
    {401: "no valid token", 403: "role not allowed", 404: "unknown account"}
)


def _suppress(rows: list[dict[str, Any]], k: Suppression, count: str,
              fields: tuple[str, ...]) -> list[dict[str, Any]]:  # fmt: skip
    """Rows whose ``count`` of residents is under k lose ``count`` and ``fields``."""
    for row in rows:
        n = int(row.get(count) or 0)
        row["suppressed"] = not k.allows(n)
        if row["suppressed"]:
            for f in (count, *fields):
                row[f] = None
    return rows


def _today(ctx: Projections) -> date:
    return ctx.clock.now().astimezone(BANGKOK).date()


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["projections"])

    @router.get("/public/overview", responses=PROBLEMS)
    async def overview(ctx: Ctx, snapshot: Snapshot = None) -> dict[str, Any]:
        """The dashboard's numbers at a glance."""
        m, k = await ctx.models(snapshot), ctx.suppression
        as_of = await ctx.as_of(m, snapshot)
        today = _today(ctx)
        if snapshot is not None and as_of["snapshot_until"] is not None:
            today = as_of["snapshot_until"].astimezone(BANGKOK).date()
        week = today - timedelta(days=today.weekday())
        riders = await m.riders_on(today)
        fairness = [r for r in await m.fairness_by_district() if r["district"] == "all"]
        gauges = _fairness_rows(fairness, k)[0] if fairness else None
        velocity = await m.velocity_monthly()
        active = {
            "day": k.count(await m.active_between(today, today)),
            "week": k.count(await m.active_between(week, today)),
            "month": k.count(await m.active_between(today.replace(day=1), today)),
        }
        return {
            "as_of": as_of,
            "today": today,
            "supply": await m.supply(),
            "this_week": {"since": week, **await m.totals_between(week, today)},
            "bus_today": {
                "riders": k.count(int(riders.get("riders", 0))),
                "rides": k.value(int(riders.get("riders", 0)), riders.get("rides", 0)),
            },
            "active_residents": active,
            "fairness": gauges,
            "velocity_last_month": velocity[-1] if velocity else None,
            "shops_by_district": await m.shops_by_district(),
            "suppress_below": k.k,
        }

    @router.get("/public/supply", responses=PROBLEMS)
    async def supply(ctx: Ctx, snapshot: Snapshot = None,
                     as_of: datetime | None = None) -> dict[str, Any]:  # fmt: skip
        """Minted coins and where they sit (issuer, municipality, each budget, residents,
        shops, bus operator, held); ``as_of`` folds the entries up to that moment."""
        m = await ctx.models(snapshot)
        return {"as_of": await ctx.as_of(m, snapshot), "at": as_of,
                "supply": await m.supply(as_of)}  # fmt: skip

    @router.get("/public/daily-totals", responses=PROBLEMS)
    async def daily_totals(ctx: Ctx, snapshot: Snapshot = None, since: date | None = None,
                           until: date | None = None) -> dict[str, Any]:  # fmt: skip
        """Per Bangkok day: minted, granted, spent, voided, held, settled; programme '*' is
        the whole city, other rows one programme's grants and settlements."""
        m = await ctx.models(snapshot)
        return {"as_of": await ctx.as_of(m, snapshot),
                "days": await m.daily_totals(since, until)}  # fmt: skip

    @router.get("/public/ridership", responses=PROBLEMS)
    async def ridership(ctx: Ctx, snapshot: Snapshot = None, since: date | None = None,
                        until: date | None = None) -> dict[str, Any]:  # fmt: skip
        """Rides by route, Bangkok day and hour, inside or outside a campaign, coin and baht
        fares; a cell with fewer than k riders is withheld."""
        m = await ctx.models(snapshot)
        rows = _suppress(await m.ridership(since, until), ctx.suppression, "riders",
                         ("rides", "coin_rides", "baht_rides", "coins", "baht_satang"))  # fmt: skip
        return {"as_of": await ctx.as_of(m, snapshot), "ridership": rows}

    @router.get("/public/redemptions", responses=PROBLEMS)
    async def redemptions(ctx: Ctx, snapshot: Snapshot = None,
                          by: Literal["shop", "category", "district"] = "district"
                          ) -> dict[str, Any]:  # fmt: skip
        """Redemptions (not voided) by shop, category or the shop's district, with the
        discount value in baht (satang)."""
        m = await ctx.models(snapshot)
        rows = _suppress(await m.redemptions(by), ctx.suppression, "residents",
                         ("redemptions", "coins", "discount_satang", "bill_satang"))  # fmt: skip
        return {"as_of": await ctx.as_of(m, snapshot), "by": by, "redemptions": rows}

    @router.get("/public/fairness", responses=PROBLEMS)
    async def fairness(ctx: Ctx, snapshot: Snapshot = None) -> dict[str, Any]:
        """Gini of holdings and of coins received, reach, small-shop share, top-10 shops'
        share, by district and per week; velocity per month."""
        m, k = await ctx.models(snapshot), ctx.suppression
        return {
            "as_of": await ctx.as_of(m, snapshot),
            "by_district": _fairness_rows(await m.fairness_by_district(), k),
            "weekly": _fairness_rows(await m.fairness_weekly(), k),
            "velocity_monthly": await m.velocity_monthly(),
        }

    @router.get("/public/missions", responses=PROBLEMS)
    async def missions(ctx: Ctx, snapshot: Snapshot = None) -> dict[str, Any]:
        """Grants by programme; the funnel of each mission (published, started, completed,
        capped) and the coins granted for it."""
        m, k = await ctx.models(snapshot), ctx.suppression
        programmes = _suppress(await m.grants_by_programme(), k, "residents",
                               ("grants", "coins"))  # fmt: skip
        funnel = await m.mission_funnel()
        for row in funnel:
            for field in ("started", "completed_residents", "capped_residents"):
                row[field] = k.count(int(row[field]))
            if row["completed_residents"] is None:
                row["completed"] = None
            if row["capped_residents"] is None:
                row["capped"] = None
            n = int(row.pop("granted_residents"))
            row["granted_coins"] = k.value(n, row["granted_coins"])
        return {"as_of": await ctx.as_of(m, snapshot), "grants_by_programme": programmes,
                "missions": funnel}  # fmt: skip

    @router.get("/public/active-residents", responses=PROBLEMS)
    async def active_residents(ctx: Ctx, snapshot: Snapshot = None,
                               period: Literal["day", "week", "month"] = "day",
                               since: date | None = None) -> dict[str, Any]:  # fmt: skip
        """Residents who spent, held, redeemed, rode, checked in or completed a mission, per
        Bangkok day, week (from Monday) or month."""
        m, k = await ctx.models(snapshot), ctx.suppression
        rows = [{"period": r["period"], "residents": k.count(int(r["residents"]))}
                for r in await m.active_residents(period, since)]  # fmt: skip
        return {"as_of": await ctx.as_of(m, snapshot), "period": period, "active": rows}

    @router.get("/public/snapshots", responses=PROBLEMS)
    async def snapshots(ctx: Ctx) -> dict[str, Any]:
        """The replayed past cities that ``?snapshot=`` can read."""
        m = await ctx.models(None)
        return {"as_of": await ctx.as_of(m, None), "snapshots": await ctx.snapshots()}

    @router.get("/balances/{account_id}", responses=AUTH_PROBLEMS)
    async def balance(
        account_id: UUID,
        ctx: Ctx,
        caller: Annotated[Principal, Depends(allow(
            Role.AUDITOR, Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR, Role.RESIDENT))],
        snapshot: Snapshot = None,
        as_of: Annotated[datetime | None, Query(description="A past moment.")] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """An account's balance now or ``as_of`` a past moment (auditors, administrators,
        programme operators; a resident only its own)."""
        if caller.role is Role.RESIDENT and caller.subject != str(account_id):
            raise forbidden("a resident reads only its own balance")
        m = await ctx.models(snapshot)
        found = await m.balance(account_id, as_of)
        if found is None:
            raise ProblemError(404, "account_unknown", "no such account (at that moment)")
        return {"as_of": await ctx.as_of(m, snapshot), "account_id": account_id, "at": as_of,
                **found}  # fmt: skip

    @router.get("/me", responses=AUTH_PROBLEMS)
    async def me(ctx: Ctx, caller: Annotated[Principal, Depends(allow(Role.RESIDENT))],
                 snapshot: Snapshot = None) -> dict[str, Any]:  # fmt: skip
        """A resident's own figures (resident access token)."""
        m = await ctx.models(snapshot)
        wallet = UUID(str(caller.subject))
        found = await m.balance(wallet, None)
        return {"as_of": await ctx.as_of(m, snapshot), "wallet_id": wallet,
                "balance": found, **await m.resident(wallet)}  # fmt: skip

    return router


def _fairness_rows(rows: list[dict[str, Any]], k: Suppression) -> list[dict[str, Any]]:
    figures = ("gini_holdings", "gini_received", "reach_received", "reach_spent",
               "small_shop_share", "top10_shop_share", "redeemed_coins")  # fmt: skip
    return _suppress(rows, k, "residents", figures)
