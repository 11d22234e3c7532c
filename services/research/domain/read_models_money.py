"""Read models of the ledger: balances, weekly flows, programmes' days, holdings, shops."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from statistics import median
from typing import Any

from .coarsening import Groups, coarsen
from .read_model_base import EventRows, Table, col, group_columns, read_model, rows_of, wallet
from .stats import day_of, gini, lorenz, top_share, week_end, week_of

RESIDENT_CREDITS = {
    "CoinsGranted": "granted",
    "CoinsRewarded": "rewarded",
    "CoinsRefunded": "refunded",
}
RESIDENT_DEBITS = ("CoinsSpent", "HoldCaptured")


def balances(events: EventRows) -> Table:
    opened = {r["account_id"]: r for r in rows_of(events, wallet("AccountOpened"))}
    last: dict[str, Mapping[str, Any]] = {}
    for row in rows_of(events, *(t for t in events if t.startswith("kgo.wallet."))):
        if "available_after" not in row or row.get("account_id") is None:
            continue
        current = last.get(row["account_id"])
        if current is None or row["account_version"] > current["account_version"]:
            last[row["account_id"]] = row
    rows = []
    for account, info in sorted(opened.items(), key=lambda kv: str(kv[0])):
        entry = last.get(account)
        available = entry["available_after"] if entry else 0
        held = entry["held_after"] if entry else 0
        rows.append(
            {
                "account_id": account,
                "account_kind": info["account_kind"],
                "label": info.get("label"),
                "programme": info.get("programme"),
                "external_ref": info.get("external_ref"),
                "available": available,
                "held": held,
                "total": available + held,
                "account_version": entry["account_version"] if entry else info["account_version"],
            }
        )
    columns = [
        col(
            "account_id",
            "string",
            "The account (residents' accounts pseudonymised; public accounts keep their id).",
            pseudonymised=True,
        ),
        col("account_kind", "string", "issuer, municipality, budget, resident, shop or operator."),
        col("label", "string", "Public label (null for residents)."),
        col("programme", "string", "A budget's programme code."),
        col("external_ref", "string", "The owning service's id for a shop or bus operator."),
        col("available", "int64", "Available coins at the end of the export."),
        col("held", "int64", "Held coins at the end of the export."),
        col("total", "int64", "Available plus held coins."),
        col("account_version", "int64", "The account's last record number in the export."),
    ]
    return read_model(
        "balances",
        "Every account's balance at the export's end (its --until), "
        "from the after-figures of its last ledger record.",
        columns,
        rows,
    )


def weekly_flows(events: EventRows, k: int) -> Table:
    groups = Groups(
        ["grants", "coins_granted", "coins_rewarded", "coins_refunded", "spends", "coins_spent"]
    )
    for name, metric in RESIDENT_CREDITS.items():
        for row in rows_of(events, wallet(name)):
            if row.get("account_kind") == "resident":
                extra = {"grants": 1} if name == "CoinsGranted" else {}
                groups.at(week_start=week_of(row["ce_time"])).add(
                    row["account_id"], **{f"coins_{metric}": row["amount"]}, **extra
                )
    for row in rows_of(events, *(wallet(n) for n in RESIDENT_DEBITS)):
        if row.get("account_kind") == "resident":
            groups.at(week_start=week_of(row["ce_time"])).add(
                row["account_id"], spends=1, coins_spent=row["amount"]
            )
    columns = [
        col("week_start", "date", "Monday (Asia/Bangkok) of the week."),
        col("grants", "int64", "Grants residents received."),
        col("coins_granted", "int64", "Coins residents received as grants."),
        col("coins_rewarded", "int64", "Coins residents received as shops' rewards."),
        col("coins_refunded", "int64", "Coins refunded to residents."),
        col("spends", "int64", "Spends by residents (direct spends and captured holds)."),
        col("coins_spent", "int64", "Coins residents spent at shops and on the bus."),
        *group_columns(k),
    ]
    rows = coarsen(groups, frame=["week_start"], fine=[], k=k)
    return read_model(
        "weekly_flows",
        "Coins granted to and spent by residents per week. Weeks "
        f"with fewer than {k} residents are suppressed.",
        columns,
        rows,
    )


def daily_programmes(events: EventRows, k: int) -> Table:
    groups = Groups(["grants", "coins_granted", "refused", "coins_refused"])
    for row in rows_of(events, wallet("CoinsGranted")):
        groups.at(day=day_of(row["ce_time"]), programme=row["programme"]).add(
            row["account_id"], grants=1, coins_granted=row["amount"]
        )
    for row in rows_of(events, wallet("GrantRefused")):
        groups.at(day=day_of(row["ce_time"]), programme=row["programme"]).add(
            row.get("resident_account_id"), refused=1, coins_refused=row["amount"]
        )
    columns = [
        col("day", "date", "Bangkok calendar day."),
        col("programme", "string", "The programme budget ('other': small programmes merged)."),
        col("grants", "int64", "Grants the programme paid."),
        col("coins_granted", "int64", "Coins it granted."),
        col("refused", "int64", "Grants it refused (budget exhausted)."),
        col("coins_refused", "int64", "Coins of the refused grants."),
        *group_columns(k),
    ]
    rows = coarsen(groups, frame=["day"], fine=["programme"], k=k)
    return read_model(
        "daily_programmes",
        "Grants per day and programme; per day, programmes "
        f"with fewer than {k} residents merged into 'other'.",
        columns,
        rows,
    )


def daily_settlements(events: EventRows) -> Table:
    totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows_of(events, wallet("CoinsSettled")):
        key = (day_of(row["ce_time"]), row["programme"], row["counter_account_kind"])
        figures = totals[key]
        figures[0] += 1
        figures[1] += row["amount"]
        figures[2] += row["baht_satang"]
    rows = [
        {
            "day": d,
            "programme": p,
            "payer_kind": kind,
            "settlements": n,
            "coins_settled": c,
            "baht_satang": b,
        }
        for (d, p, kind), (n, c, b) in sorted(totals.items(), key=lambda kv: str(kv[0]))
    ]
    columns = [
        col("day", "date", "Bangkok calendar day."),
        col("programme", "string", "The programme budget the coins went back to."),
        col("payer_kind", "string", "shop or operator (public accounts: not coarsened)."),
        col("settlements", "int64", "Settlements."),
        col("coins_settled", "int64", "Coins returned to the budget."),
        col("baht_satang", "int64", "Baht the programme paid for them outside KGO, in satang."),
    ]
    return read_model(
        "daily_settlements",
        "Settlements per day and programme (shops and the bus operator are public accounts).",
        columns,
        rows,
    )


def holdings_weekly(events: EventRows, k: int) -> Table:
    entries = [
        r
        for r in rows_of(events, *(t for t in events if t.startswith("kgo.wallet.")))
        if r.get("account_kind") == "resident" and r.get("account_id") is not None
    ]
    entries.sort(key=lambda r: (r["ce_time"], r["account_version"]))
    rows: list[dict[str, Any]] = []
    holdings: dict[str, int] = {}
    if entries:
        week, last_week = week_of(entries[0]["ce_time"]), week_of(entries[-1]["ce_time"])
        i = 0
        while week <= last_week:
            end = week_end(week)
            while i < len(entries) and entries[i]["ce_time"] < end:
                row = entries[i]
                holdings[row["account_id"]] = row.get("available_after", 0) + row.get(
                    "held_after", 0
                )
                i += 1
            rows.append(_holdings_row(week, list(holdings.values()), k))
            week = end.date()
    columns = [
        col("week_start", "date", "Monday (Asia/Bangkok) of the week; holdings at its end."),
        col("residents", "int64", "Residents with an account by the end of the week."),
        col("coins_held", "int64", "Coins residents held in all (available plus held)."),
        col("mean_coins", "float64", "Mean holding."),
        col("median_coins", "float64", "Median holding."),
        col(
            "gini", "float64", "Gini coefficient of residents' holdings (0 equal, 1 one holds all)."
        ),
        col("top10pct_share", "float64", "Share of coins held by the richest tenth of residents."),
        col("suppressed", "bool", f"True when fewer than {k} residents: figures are null."),
    ]
    return read_model(
        "holdings_weekly",
        "Residents' holdings at the end of each week and their inequality (Gini).",
        columns,
        rows,
    )


def _holdings_row(week: Any, values: list[int], k: int) -> dict[str, Any]:
    if len(values) < k:
        empty = ("residents", "coins_held", "mean_coins", "median_coins", "gini", "top10pct_share")
        return {"week_start": week, **dict.fromkeys(empty), "suppressed": True}
    total = sum(values)
    return {
        "week_start": week,
        "residents": len(values),
        "coins_held": total,
        "mean_coins": total / len(values),
        "median_coins": float(median(values)),
        "gini": gini(values),
        "top10pct_share": top_share(values, max(1, len(values) // 10)),
        "suppressed": False,
    }


def shop_lorenz(events: EventRows) -> Table:
    received: dict[str, int] = defaultdict(int)
    for row in rows_of(events, wallet("PaymentReceived")):
        if row.get("account_kind") == "shop":
            received[row["account_id"]] += row["amount"]
    values = sorted(received.values())
    points = lorenz(values)[1:]
    rows = [
        {"position": i, "coins": values[i - 1], "shops_share": x, "coins_share_cumulative": y}
        for i, (x, y) in enumerate(points, start=1)
    ]
    columns = [
        col("position", "int64", "The shop's rank, from the shop that received least (1)."),
        col("coins", "int64", "Coins that shop received from residents."),
        col("shops_share", "float64", "Share of shops up to this one."),
        col(
            "coins_share_cumulative",
            "float64",
            "Their cumulative share of all coins shops received (the Lorenz curve).",
        ),
    ]
    return read_model(
        "shop_lorenz",
        "Concentration of residents' spending across shops: the "
        "Lorenz curve of coins received per shop (no shop named).",
        columns,
        rows,
    )
