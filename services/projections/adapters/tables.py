"""The read models' tables, grouped by read model: plain SQL tables in one schema.

``kgo replay <model>`` rebuilds the tables of one group into a fresh schema and moves them
into the live one; every group lists its tables here, with their DDL.
"""

from __future__ import annotations

from collections.abc import Iterable

MODELS: dict[str, dict[str, str]] = {
    "ledger": {
        "accounts": "account_id uuid PRIMARY KEY, kind text NOT NULL, programme text,"
        " label text, external_ref text, opened_at timestamptz NOT NULL",
        "balances": "account_id uuid PRIMARY KEY, available bigint NOT NULL,"
        " held bigint NOT NULL, version int NOT NULL, wallet_available bigint NOT NULL,"
        " wallet_held bigint NOT NULL, updated_at timestamptz NOT NULL",
        "entries": "account_id uuid NOT NULL, account_version int NOT NULL,"
        " occurred_at timestamptz NOT NULL, type text NOT NULL, amount bigint NOT NULL,"
        " d_available bigint NOT NULL, d_held bigint NOT NULL,"
        " available_after bigint NOT NULL, held_after bigint NOT NULL, movement_id uuid,"
        " PRIMARY KEY (account_id, account_version)",
        "flows_daily": "day date NOT NULL, kind text NOT NULL, net bigint NOT NULL,"
        " spent bigint NOT NULL, PRIMARY KEY (day, kind)",
    },
    "daily_totals": {
        "daily_totals": "day date NOT NULL, programme text NOT NULL, minted bigint NOT NULL,"
        " granted bigint NOT NULL, spent bigint NOT NULL, voided bigint NOT NULL,"
        " held bigint NOT NULL, settled bigint NOT NULL, PRIMARY KEY (day, programme)",
    },
    "missions": {
        "grants": "movement_id uuid PRIMARY KEY, wallet_id uuid NOT NULL,"
        " programme text NOT NULL, reason text NOT NULL, reference text NOT NULL,"
        " amount bigint NOT NULL, occurred_at timestamptz NOT NULL",
        "completions": "completion_id uuid PRIMARY KEY, wallet_id uuid NOT NULL,"
        " mission_id uuid NOT NULL, programme text NOT NULL, campaign text,"
        " reward bigint NOT NULL, requested bigint NOT NULL, capped boolean NOT NULL,"
        " occurred_at timestamptz NOT NULL",
        "missions": "mission_id uuid PRIMARY KEY, revision int NOT NULL, code text NOT NULL,"
        " title text NOT NULL, campaign text NOT NULL, programme text NOT NULL,"
        " reward bigint NOT NULL, rule text NOT NULL, published_at timestamptz NOT NULL,"
        " retired_at timestamptz",
        "activities": "activity_id uuid PRIMARY KEY, mission_id uuid NOT NULL,"
        " code text NOT NULL, title text NOT NULL, starts_at timestamptz NOT NULL",
        "check_ins": "check_in_id uuid PRIMARY KEY, activity_id uuid NOT NULL,"
        " wallet_id uuid NOT NULL, occurred_at timestamptz NOT NULL",
    },
    "redemptions": {
        "shops": "shop_id uuid PRIMARY KEY, payee_account_id uuid NOT NULL,"
        " label text NOT NULL, category text NOT NULL, district text NOT NULL,"
        " size_class text NOT NULL, enrolled_at timestamptz NOT NULL,"
        " suspended boolean NOT NULL DEFAULT false",
        "redemptions": "redemption_id uuid PRIMARY KEY, shop_id uuid NOT NULL,"
        " wallet_id uuid NOT NULL, coins bigint NOT NULL, discount_satang bigint NOT NULL,"
        " bill_satang bigint NOT NULL, occurred_at timestamptz NOT NULL,"
        " voided_at timestamptz",
    },
    "ridership": {
        "fares": "trip_id uuid PRIMARY KEY, wallet_id uuid NOT NULL, route_id text NOT NULL,"
        " fare_product text NOT NULL, coins bigint NOT NULL, baht_satang bigint NOT NULL,"
        " campaign text, offline boolean NOT NULL, occurred_at timestamptz NOT NULL",
        "campaigns": "campaign_id text PRIMARY KEY, starts_at timestamptz NOT NULL,"
        " ends_at timestamptz NOT NULL, coins bigint NOT NULL, baht_satang bigint NOT NULL,"
        " programme text NOT NULL",
    },
    "active_residents": {
        "active_days": "wallet_id uuid NOT NULL, day date NOT NULL, PRIMARY KEY (day, wallet_id)",
    },
    "fairness": {
        "resident_weeks": "wallet_id uuid NOT NULL, week date NOT NULL,"
        " received bigint NOT NULL, spent bigint NOT NULL, PRIMARY KEY (week, wallet_id)",
    },
}

#: Indexes beside the primary keys (``entries`` by time for ``as_of`` on one account).
INDEXES: dict[str, list[str]] = {
    "entries": ["(account_id, occurred_at)", "(occurred_at)"],
    "redemptions": ["(shop_id)", "(wallet_id)"],
    "fares": ["(occurred_at)"],
    "grants": ["(reference)"],
}

#: Progress of the read models: the latest business time folded, the last commit.
META = (
    "CREATE TABLE IF NOT EXISTS {s}.progress (id int PRIMARY KEY DEFAULT 1,"
    " business_time timestamptz, committed_at timestamptz NOT NULL DEFAULT now(),"
    " snapshot_until timestamptz, built_at timestamptz);"
    "INSERT INTO {s}.progress (id) VALUES (1) ON CONFLICT DO NOTHING"
)


def model_names() -> list[str]:
    return list(MODELS)


def tables_of(models: Iterable[str]) -> list[str]:
    return [table for model in models for table in MODELS[model]]


def ddl(schema: str, models: Iterable[str], *, indexes: bool = True) -> str:
    """The schema, its tables and (unless a replay builds them at the end: one sort instead
    of an index update per row) their indexes beside the primary keys."""
    models = list(models)
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}", META.format(s=schema)]
    for model in models:
        for table, columns in MODELS[model].items():
            statements.append(f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({columns})")
    return ";\n".join(statements + (index_ddl(schema, models) if indexes else []))


def index_ddl(schema: str, models: Iterable[str]) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {table}_i{i} ON {schema}.{table} {cols}"
        for table in tables_of(models)
        for i, cols in enumerate(INDEXES.get(table, []))
    ]
