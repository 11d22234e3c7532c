"""Reads of the read models (live or a replayed snapshot schema), one method per answer.

Figures about residents come back with the number of residents they concern, so that the
caller can suppress the small ones (:class:`~services.projections.domain.measures.Suppression`).
Every read runs in a READ ONLY transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.projections.domain.measures import Suppression

Row = dict[str, Any]

#: Gini over ``v(grp, x)``: sum((2i - n - 1) x_i) / (n * sum x), x sorted within the group.
GINI = (
    "SELECT grp, count(*) AS n, sum(x) AS total,"
    " sum((2 * rn - n - 1) * x)::float8 / nullif(max(n) * sum(x), 0) AS gini FROM"
    " (SELECT grp, x, row_number() OVER (PARTITION BY grp ORDER BY x) AS rn,"
    " count(*) OVER (PARTITION BY grp) AS n FROM v) q GROUP BY grp"
)


class ReadModels:
    def __init__(self, pool: asyncpg.Pool, schema: str, suppression: Suppression) -> None:
        self.pool = pool
        self.s = schema
        self.k = suppression

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            rows = await conn.fetch(sql.replace("{s}", self.s), *args)
        # sum() of bigint is numeric in Postgres; coins and satang are whole numbers.
        return [{k: int(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows]

    async def _one(self, sql: str, *args: Any) -> Row:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else {}

    async def progress(self) -> Row:
        return await self._one(
            "SELECT business_time, committed_at, snapshot_until, built_at FROM {s}.progress"
        )

    # --- balances and supply ------------------------------------------------------------------

    async def balance(self, account: UUID, as_of: datetime | None) -> Row | None:
        if as_of is None:
            rows = await self._fetch(
                "SELECT a.kind, b.available, b.held, b.version, b.updated_at AS at,"
                " b.wallet_available, b.wallet_held FROM {s}.balances b"
                " JOIN {s}.accounts a USING (account_id) WHERE account_id = $1",
                account,
            )
        else:
            rows = await self._fetch(
                "SELECT a.kind, coalesce(e.available_after, 0) AS available,"
                " coalesce(e.held_after, 0) AS held, coalesce(e.account_version, 1) AS version,"
                " e.occurred_at AS at FROM {s}.accounts a LEFT JOIN LATERAL"
                " (SELECT * FROM {s}.entries WHERE account_id = a.account_id"
                " AND occurred_at <= $2 ORDER BY account_version DESC LIMIT 1) e ON true"
                " WHERE a.account_id = $1 AND a.opened_at <= $2",
                account,
                as_of,
            )
        return rows[0] if rows else None

    async def supply(self, as_of: datetime | None = None) -> Row:
        if as_of is None:
            source = "SELECT account_id, available, held FROM {s}.balances"
            args: tuple[Any, ...] = ()
        else:
            source = (
                "SELECT DISTINCT ON (account_id) account_id, available_after AS available,"
                " held_after AS held FROM {s}.entries WHERE occurred_at <= $1"
                " ORDER BY account_id, account_version DESC"
            )
            args = (as_of,)
        rows = await self._fetch(
            f"SELECT a.kind, a.programme, a.label, count(*) AS accounts,"
            f" sum(b.available) AS available, sum(b.held) AS held"
            f" FROM ({source}) b JOIN {{s}}.accounts a USING (account_id)"
            f" GROUP BY a.kind, a.programme, a.label",
            *args,
        )
        minted = await self._one(
            "SELECT coalesce(sum(amount), 0) AS minted FROM {s}.entries"
            " WHERE type = 'SupplyMinted'" + (" AND occurred_at <= $1" if as_of else ""),
            *args,
        )
        by_kind: dict[str, int] = {}
        budgets: list[Row] = []
        held = 0
        for r in rows:
            total = int(r["available"]) + int(r["held"])
            by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + total
            held += int(r["held"])
            if r["kind"] == "budget":
                budgets.append({"programme": r["programme"], "label": r["label"],
                                "coins": total})  # fmt: skip
        mismatches = 0
        if as_of is None:
            check = await self._one(
                "SELECT count(*) AS n FROM {s}.balances"
                " WHERE available <> wallet_available OR held <> wallet_held"
            )
            mismatches = int(check.get("n", 0))
        return {
            "minted": int(minted.get("minted", 0)),
            "issuer": by_kind.get("issuer", 0),
            "municipality": by_kind.get("municipality", 0),
            "budgets": sorted(budgets, key=lambda b: str(b["programme"])),
            "residents": by_kind.get("resident", 0),
            "shops": by_kind.get("shop", 0),
            "bus_operator": by_kind.get("operator", 0),
            "held": held,
            "circulating": sum(by_kind.values()),
            "balances_differing_from_wallet": mismatches,
        }

    # --- daily totals ---------------------------------------------------------------------------

    async def daily_totals(self, since: date | None, until: date | None) -> list[Row]:
        return await self._fetch(
            "SELECT day, programme, minted, granted, spent, voided, held, settled"
            " FROM {s}.daily_totals WHERE ($1::date IS NULL OR day >= $1)"
            " AND ($2::date IS NULL OR day <= $2) ORDER BY day, programme",
            since,
            until,
        )

    async def totals_between(self, since: date, until: date) -> Row:
        return await self._one(
            "SELECT coalesce(sum(granted), 0) AS granted, coalesce(sum(spent), 0) AS spent,"
            " coalesce(sum(voided), 0) AS voided FROM {s}.daily_totals"
            " WHERE programme = '*' AND day BETWEEN $1 AND $2",
            since,
            until,
        )

    # --- missions -------------------------------------------------------------------------------

    async def grants_by_programme(self) -> list[Row]:
        return await self._fetch(
            "SELECT programme, count(*) AS grants, sum(amount) AS coins,"
            " count(DISTINCT wallet_id) AS residents FROM {s}.grants GROUP BY programme"
            " ORDER BY programme"
        )

    async def mission_funnel(self) -> list[Row]:
        return await self._fetch(
            "WITH steps AS (SELECT mission_id, wallet_id FROM {s}.completions"
            " UNION SELECT a.mission_id, c.wallet_id FROM {s}.check_ins c"
            " JOIN {s}.activities a USING (activity_id)),"
            " started AS (SELECT mission_id, count(DISTINCT wallet_id) AS n FROM steps"
            " GROUP BY mission_id),"
            " done AS (SELECT mission_id, count(*) FILTER (WHERE reward > 0) AS completed,"
            " count(DISTINCT wallet_id) FILTER (WHERE reward > 0) AS completed_residents,"
            " count(*) FILTER (WHERE capped) AS capped,"
            " count(DISTINCT wallet_id) FILTER (WHERE capped) AS capped_residents"
            " FROM {s}.completions GROUP BY mission_id),"
            " granted AS (SELECT c.mission_id, sum(g.amount) AS coins,"
            " count(DISTINCT g.wallet_id) AS residents FROM {s}.grants g"
            " JOIN {s}.completions c ON g.reference = c.completion_id::text"
            " GROUP BY c.mission_id)"
            " SELECT m.mission_id, m.code, m.title, m.campaign, m.programme, m.reward,"
            " m.published_at, m.retired_at, coalesce(st.n, 0) AS started,"
            " coalesce(d.completed, 0) AS completed,"
            " coalesce(d.completed_residents, 0) AS completed_residents,"
            " coalesce(d.capped, 0) AS capped, coalesce(d.capped_residents, 0) AS capped_residents,"
            " coalesce(g.coins, 0) AS granted_coins, coalesce(g.residents, 0) AS granted_residents"
            " FROM {s}.missions m LEFT JOIN started st USING (mission_id)"
            " LEFT JOIN done d USING (mission_id) LEFT JOIN granted g USING (mission_id)"
            " ORDER BY m.published_at, m.code"
        )

    # --- redemptions ----------------------------------------------------------------------------

    async def redemptions(self, by: str) -> list[Row]:
        group = {"shop": "s.shop_id, s.label, s.category, s.district, s.size_class",
                 "category": "s.category", "district": "s.district"}[by]  # fmt: skip
        return await self._fetch(
            f"SELECT {group}, count(*) AS redemptions, sum(r.coins) AS coins,"
            " sum(r.discount_satang) AS discount_satang, sum(r.bill_satang) AS bill_satang,"
            " count(DISTINCT r.wallet_id) AS residents FROM {s}.redemptions r"
            " JOIN {s}.shops s USING (shop_id) WHERE r.voided_at IS NULL"
            f" GROUP BY {group} ORDER BY coins DESC"
        )

    async def shops_by_district(self) -> list[Row]:
        return await self._fetch(
            "SELECT district, count(*) AS shops, count(*) FILTER (WHERE size_class = 'small')"
            " AS small_shops FROM {s}.shops GROUP BY district ORDER BY district"
        )

    # --- ridership ------------------------------------------------------------------------------

    async def ridership(self, since: date | None, until: date | None) -> list[Row]:
        return await self._fetch(
            "SELECT route_id, (occurred_at AT TIME ZONE 'Asia/Bangkok')::date AS day,"
            " extract(hour FROM occurred_at AT TIME ZONE 'Asia/Bangkok')::int AS hour,"
            " campaign IS NOT NULL AS in_campaign, count(*) AS rides,"
            " count(*) FILTER (WHERE coins > 0) AS coin_rides,"
            " count(*) FILTER (WHERE coins = 0) AS baht_rides, sum(coins) AS coins,"
            " sum(baht_satang) AS baht_satang, count(DISTINCT wallet_id) AS riders"
            " FROM {s}.fares WHERE ($1::date IS NULL OR"
            " (occurred_at AT TIME ZONE 'Asia/Bangkok')::date >= $1) AND ($2::date IS NULL"
            " OR (occurred_at AT TIME ZONE 'Asia/Bangkok')::date <= $2)"
            " GROUP BY 1, 2, 3, 4 ORDER BY 2, 3, 1, 4",
            since,
            until,
        )

    async def riders_on(self, day: date) -> Row:
        return await self._one(
            "SELECT count(*) AS rides, count(DISTINCT wallet_id) AS riders FROM {s}.fares"
            " WHERE (occurred_at AT TIME ZONE 'Asia/Bangkok')::date = $1",
            day,
        )

    # --- active residents -----------------------------------------------------------------------

    async def active_residents(self, period: str, since: date | None) -> list[Row]:
        unit = {"day": "day", "week": "week", "month": "month"}[period]
        return await self._fetch(
            f"SELECT date_trunc('{unit}', day)::date AS period,"
            " count(DISTINCT wallet_id) AS residents FROM {s}.active_days"
            " WHERE ($1::date IS NULL OR day >= $1) GROUP BY 1 ORDER BY 1",
            since,
        )

    async def active_between(self, since: date, until: date) -> int:
        row = await self._one(
            "SELECT count(DISTINCT wallet_id) AS n FROM {s}.active_days"
            " WHERE day BETWEEN $1 AND $2",
            since,
            until,
        )
        return int(row.get("n", 0))

    # --- fairness -------------------------------------------------------------------------------

    async def fairness_by_district(self) -> list[Row]:
        """Per home district (the district of the shops where a resident redeemed most
        coins; ``unknown`` for residents who redeemed nothing) and ``all``."""
        residents = (
            "WITH home AS (SELECT DISTINCT ON (r.wallet_id) r.wallet_id, s.district"
            " FROM {s}.redemptions r JOIN {s}.shops s USING (shop_id)"
            " WHERE r.voided_at IS NULL GROUP BY r.wallet_id, s.district"
            " ORDER BY r.wallet_id, sum(r.coins) DESC, s.district),"
            " received AS (SELECT wallet_id, sum(received) AS received, sum(spent) AS spent"
            " FROM {s}.resident_weeks GROUP BY wallet_id),"
            " res AS (SELECT a.account_id AS wallet_id,"
            " coalesce(h.district, 'unknown') AS district,"
            " coalesce(b.available + b.held, 0) AS holding, coalesce(rc.received, 0) AS received,"
            " coalesce(rc.spent, 0) AS spent FROM {s}.accounts a"
            " LEFT JOIN {s}.balances b USING (account_id)"
            " LEFT JOIN home h ON h.wallet_id = a.account_id"
            " LEFT JOIN received rc ON rc.wallet_id = a.account_id WHERE a.kind = 'resident'),"
            " grouped AS (SELECT district AS grp, * FROM res UNION ALL"
            " SELECT 'all' AS grp, * FROM res)"
        )
        holdings = await self._fetch(
            residents + ", v AS (SELECT grp, holding AS x FROM grouped) " + GINI
        )
        receipts = await self._fetch(
            residents + ", v AS (SELECT grp, received AS x FROM grouped) " + GINI
        )
        reach = await self._fetch(
            residents + " SELECT grp, count(*) AS residents,"
            " count(*) FILTER (WHERE received > 0) AS received,"
            " count(*) FILTER (WHERE spent > 0) AS spent FROM grouped GROUP BY grp"
        )
        shops = await self._fetch(
            "WITH per_shop AS (SELECT s.district, s.size_class, r.shop_id, sum(r.coins) AS coins"
            " FROM {s}.redemptions r JOIN {s}.shops s USING (shop_id)"
            " WHERE r.voided_at IS NULL GROUP BY 1, 2, 3),"
            " g AS (SELECT district AS grp, * FROM per_shop UNION ALL"
            " SELECT 'all', * FROM per_shop),"
            " ranked AS (SELECT *, row_number() OVER (PARTITION BY grp ORDER BY coins DESC) AS rk"
            " FROM g)"
            " SELECT grp, sum(coins) AS coins,"
            " sum(coins) FILTER (WHERE size_class = 'small') AS small_coins,"
            " sum(coins) FILTER (WHERE rk <= 10) AS top10_coins FROM ranked GROUP BY grp"
        )
        out: dict[str, Row] = {}
        for rows in (holdings, receipts, reach, shops):
            for r in rows:
                out.setdefault(r["grp"], {"district": r["grp"]})
        for r in holdings:
            out[r["grp"]]["gini_holdings"] = r["gini"]
        for r in receipts:
            out[r["grp"]]["gini_received"] = r["gini"]
        for r in reach:
            n = int(r["residents"])
            row = out[r["grp"]]
            row["residents"] = n
            row["reach_received"] = int(r["received"]) / n if n else None
            row["reach_spent"] = int(r["spent"]) / n if n else None
        for r in shops:
            coins = int(r["coins"] or 0)
            row = out[r["grp"]]
            row["small_shop_share"] = int(r["small_coins"] or 0) / coins if coins else None
            row["top10_shop_share"] = int(r["top10_coins"] or 0) / coins if coins else None
            row["redeemed_coins"] = coins
        return sorted(out.values(), key=lambda r: (r["district"] != "all", r["district"]))

    async def fairness_weekly(self) -> list[Row]:
        """Per week (Monday, Bangkok): Gini of coins received that week over residents
        registered by its end, cumulative reach, small-shop and top-10 shares that week."""
        weekly = await self._fetch(
            "WITH weeks AS (SELECT DISTINCT week FROM {s}.resident_weeks),"
            " res AS (SELECT account_id, opened_at FROM {s}.accounts WHERE kind = 'resident'),"
            " v AS (SELECT w.week AS grp, coalesce(rw.received, 0) AS x FROM weeks w"
            " JOIN res ON res.opened_at < w.week + 7 LEFT JOIN {s}.resident_weeks rw"
            " ON rw.week = w.week AND rw.wallet_id = res.account_id) " + GINI
        )
        reach = await self._fetch(
            "WITH weeks AS (SELECT DISTINCT week FROM {s}.resident_weeks)"
            " SELECT w.week AS grp, (SELECT count(*) FROM {s}.accounts WHERE kind = 'resident'"
            " AND opened_at < w.week + 7) AS residents,"
            " (SELECT count(DISTINCT wallet_id) FROM {s}.resident_weeks"
            " WHERE week <= w.week AND received > 0) AS received,"
            " (SELECT count(DISTINCT wallet_id) FROM {s}.resident_weeks"
            " WHERE week <= w.week AND spent > 0) AS spent FROM weeks w"
        )
        shops = await self._fetch(
            "WITH per AS (SELECT date_trunc('week', r.occurred_at AT TIME ZONE 'Asia/Bangkok')"
            "::date AS grp, s.size_class, r.shop_id, sum(r.coins) AS coins,"
            " count(DISTINCT r.wallet_id) AS residents FROM {s}.redemptions r"
            " JOIN {s}.shops s USING (shop_id) WHERE r.voided_at IS NULL GROUP BY 1, 2, 3),"
            " ranked AS (SELECT *, row_number() OVER (PARTITION BY grp ORDER BY coins DESC) AS rk"
            " FROM per) SELECT grp, sum(coins) AS coins,"
            " sum(coins) FILTER (WHERE size_class = 'small') AS small_coins,"
            " sum(coins) FILTER (WHERE rk <= 10) AS top10_coins FROM ranked GROUP BY grp"
        )
        out: dict[date, Row] = {}
        for r in weekly:
            out.setdefault(r["grp"], {"week": r["grp"]})["gini_received"] = r["gini"]
        for r in reach:
            n = int(r["residents"])
            row = out.setdefault(r["grp"], {"week": r["grp"]})
            row["residents"] = n
            row["reach_received"] = int(r["received"]) / n if n else None
            row["reach_spent"] = int(r["spent"]) / n if n else None
        for r in shops:
            coins = int(r["coins"] or 0)
            row = out.setdefault(r["grp"], {"week": r["grp"]})
            row["small_shop_share"] = int(r["small_coins"] or 0) / coins if coins else None
            row["top10_shop_share"] = int(r["top10_coins"] or 0) / coins if coins else None
        return [out[w] for w in sorted(out)]

    async def velocity_monthly(self) -> list[Row]:
        """Per month: coins residents spent / the mean of residents' holdings at the start
        and the end of the month (how often a resident's coin changed hands that month)."""
        rows = await self._fetch(
            "SELECT date_trunc('month', day)::date AS month, sum(net) AS net,"
            " sum(spent) AS spent FROM {s}.flows_daily WHERE kind = 'resident'"
            " GROUP BY 1 ORDER BY 1"
        )
        held, out = 0, []
        for r in rows:
            start, held = held, held + int(r["net"])
            mean = (start + held) / 2
            spent = int(r["spent"])
            velocity = spent / mean if mean else None
            out.append({"month": r["month"], "spent": spent, "holdings_start": start,
                        "holdings_end": held, "velocity": velocity})  # fmt: skip
        return out

    # --- a resident's own figures ---------------------------------------------------------------

    async def resident(self, wallet: UUID) -> Row:
        summary = await self._one(
            "SELECT coalesce(sum(received), 0) AS received, coalesce(sum(spent), 0) AS spent"
            " FROM {s}.resident_weeks WHERE wallet_id = $1",
            wallet,
        )
        rides = await self._one(
            "SELECT count(*) AS rides, coalesce(sum(coins), 0) AS coins FROM {s}.fares"
            " WHERE wallet_id = $1",
            wallet,
        )
        redeemed = await self._one(
            "SELECT count(*) AS redemptions, coalesce(sum(coins), 0) AS coins,"
            " coalesce(sum(discount_satang), 0) AS discount_satang FROM {s}.redemptions"
            " WHERE wallet_id = $1 AND voided_at IS NULL",
            wallet,
        )
        missions = await self._one(
            "SELECT count(*) FILTER (WHERE reward > 0) AS completed,"
            " coalesce(sum(reward), 0) AS coins FROM {s}.completions WHERE wallet_id = $1",
            wallet,
        )
        days = await self._one(
            "SELECT count(*) AS active_days FROM {s}.active_days WHERE wallet_id = $1", wallet
        )
        return {"received": summary.get("received", 0), "spent": summary.get("spent", 0),
                "rides": rides, "redemptions": redeemed, "missions": missions,
                "active_days": days.get("active_days", 0)}  # fmt: skip
