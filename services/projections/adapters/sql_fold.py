"""The replay's fold of one batch done by PostgreSQL: the batch's record values go in as
one JSON array beside their wire names, and one statement per batch turns them into the
same rows and sums :func:`~services.projections.domain.changes.fold_batch` and
:class:`~services.projections.adapters.writer.ReadModelWriter` make in Python.

Why: a replay in Python spent ~22 µs a record (decode, fold, encode rows) against ~5 µs for
reading it from Kafka, on a machine with two cores. Here the Python side only reads two
headers and joins the values; the parsing and folding run in C in the server's processes
(another core). Only records the live consumer validated come here (the trusted ones);
anything else is decoded and folded in Python as before, and ``since``/``until`` replays
stay on the Python fold.

Keep it the same fold: the integration test ``test_sql_fold`` folds one history both ways
and compares every table. Rows are inserted ``ON CONFLICT DO NOTHING`` in batch order (the
first of two copies wins, as there), balances move only by the entries inserted, sums are
added to what is there (rows in key order: concurrent batches lock them in one order);
retirements, shop status and voids update rows afterwards, the batch's last one winning.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from kgo_contracts.fold import EFFECTS
from services.projections.adapters.writer import ENTRIES, balances_moved
from services.projections.domain.changes import ACTIVE, DAILY_FIELDS, RECEIVED, SPENT

#: Wire names whose rows the second statement updates (rows the first may have inserted).
UPDATES = frozenset({
    "kgo.missions.MissionRetired",
    "kgo.merchant.ShopSuspended",
    "kgo.merchant.ShopReinstated",
    "kgo.merchant.RedemptionVoided",
})  # fmt: skip

#: Wire names any read model takes more than the business time from.
FOLDED = frozenset({
    *EFFECTS, "kgo.wallet.AccountOpened",
    "kgo.missions.MissionPublished", "kgo.missions.MissionChanged", *UPDATES,
    "kgo.missions.MissionCompleted", "kgo.missions.MissionRewardCapped",
    "kgo.missions.ActivityScheduled", "kgo.missions.ActivityCheckedIn",
    "kgo.merchant.ShopEnrolled", "kgo.merchant.DiscountRedeemed",
    "kgo.transit.FarePaid", "kgo.transit.CampaignScheduled",
})  # fmt: skip

#: Bangkok's day of a timestamptz (the offset as an interval: ISO sign, east positive).
DAY = "(({0}) AT TIME ZONE INTERVAL '+07:00')::date"

#: Every field any read model takes from an event, typed (one name has one type across
#: the folded contracts: the test folds every contract's examples).
COLUMNS = (
    "account_id uuid, account_kind text, account_version int, occurred_at timestamptz,"
    " amount bigint, available_after bigint, held_after bigint, movement_id uuid,"
    " programme text, reason text, reference text, label text, external_ref text,"
    " completion_id uuid, wallet_id uuid, mission_id uuid, campaign text, reward bigint,"
    " requested_reward bigint, revision int, code text, title_en text, rule json,"
    " activity_id uuid, check_in_id uuid, starts_at timestamptz, shop_id uuid,"
    " payee_account_id uuid, category text, district text, size_class text,"
    " redemption_id uuid, coins bigint, discount_satang bigint, bill_satang bigint,"
    " trip_id uuid, route_id text, fare_product text, baht_satang bigint, offline boolean,"
    " campaign_id text, ends_at timestamptz"
)
_NAMES_OF_COLUMNS = ", ".join(c.split()[0] for c in COLUMNS.split(","))

#: The batch: wire names ($1, comma-separated) zipped with the values ($2, a JSON array),
#: each value parsed once into the typed columns.
EVENTS = (
    f"ev AS MATERIALIZED (SELECT * FROM ROWS FROM (unnest(string_to_array($1::text, ',')),"
    f" json_to_recordset(convert_from($2::bytea, 'UTF8')::json) AS ({COLUMNS}))"
    f" WITH ORDINALITY AS e(name, {_NAMES_OF_COLUMNS}, ord))"
)


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in sorted(names))


def _of(*names: str) -> str:
    """``FROM`` the batch's events named ``names`` (as ``x``)."""
    return f"FROM ev AS x WHERE x.name IN ({_names(names)})"


def _select(columns: str, *names: str) -> str:
    return f"SELECT {columns} {_of(*names)}"


def _ledger_entries() -> str:
    """Wallet events with an effect, with their Bangkok day and balance deltas."""
    effects = ", ".join(f"('{n}', {a}, {h})" for n, (a, h) in EFFECTS.items())
    return (
        "w AS MATERIALIZED (SELECT x.*, fx.da * x.amount AS d_available,"
        f" fx.dh * x.amount AS d_held, {DAY.format('x.occurred_at')} AS day"
        f" FROM ev AS x JOIN (VALUES {effects}) AS fx(name, da, dh) USING (name))"
    )


def _insert(s: str, table: str, columns: str, select: str, conflict: str = "DO NOTHING") -> str:
    return f"INSERT INTO {s}.{table} AS t ({columns}) {select} ON CONFLICT {conflict}"


def _ledger(s: str) -> list[tuple[str, str]]:
    spent = _names(SPENT)
    return [
        ("accounts", _insert(
            s, "accounts", "account_id, kind, programme, label, external_ref, opened_at",
            _select("account_id, account_kind, programme, label, external_ref, occurred_at",
                    "kgo.wallet.AccountOpened") + " ORDER BY x.ord")),
        *balances_moved(s, (
            f"INSERT INTO {s}.entries ({ENTRIES}) SELECT account_id, account_version,"
            " occurred_at, split_part(name, '.', 3), amount, d_available, d_held,"
            " available_after, held_after, movement_id FROM w ORDER BY ord"
            " ON CONFLICT DO NOTHING RETURNING *")),
        ("flows", _insert(
            s, "flows_daily", "day, kind, net, spent",
            "SELECT day, account_kind, sum(d_available + d_held), sum(CASE WHEN"
            f" account_kind = 'resident' AND name IN ({spent}) THEN amount ELSE 0 END)"
            " FROM w GROUP BY day, account_kind ORDER BY day, account_kind",
            "(day, kind) DO UPDATE SET net = t.net + EXCLUDED.net,"
            " spent = t.spent + EXCLUDED.spent")),
    ]  # fmt: skip


def _daily(s: str) -> list[tuple[str, str]]:
    def when(condition: str) -> str:
        return f"CASE WHEN {condition} THEN amount ELSE 0 END"

    city = ", ".join([
        when("name = 'kgo.wallet.SupplyMinted'"), when("name = 'kgo.wallet.CoinsGranted'"),
        when(f"account_kind = 'resident' AND name IN ({_names(SPENT)})"), "0",
        when("account_kind = 'resident' AND name = 'kgo.wallet.CoinsHeld'"),
        when("name = 'kgo.wallet.CoinsSettled'"),
    ])  # fmt: skip
    programme = ", ".join(["0", when("name = 'kgo.wallet.CoinsGranted'"), "0", "0", "0",
                           when("name = 'kgo.wallet.CoinsSettled'")])  # fmt: skip
    sums = ", ".join(f"sum({f})" for f in DAILY_FIELDS)
    sets = ", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in DAILY_FIELDS)
    return [("daily", _insert(
        s, "daily_totals", "day, programme, " + ", ".join(DAILY_FIELDS),
        f"SELECT day, programme, {sums} FROM ("
        f"SELECT day, '*' AS programme, {city} FROM w"
        f" UNION ALL SELECT day, programme, {programme} FROM w"
        " WHERE name IN ('kgo.wallet.CoinsGranted', 'kgo.wallet.CoinsSettled')"
        f" UNION ALL SELECT {DAY.format('x.occurred_at')}, '*', 0, 0, 0, x.coins, 0, 0 "
        + _of("kgo.merchant.RedemptionVoided")
        + f") AS d({', '.join(['day', 'programme', *DAILY_FIELDS])})"
        " GROUP BY day, programme ORDER BY day, programme",
        f"(day, programme) DO UPDATE SET {sets}"))]  # fmt: skip


def _missions(s: str) -> list[tuple[str, str]]:
    return [
        ("grants", _insert(
            s, "grants", "movement_id, wallet_id, programme, reason, reference, amount,"
            " occurred_at", "SELECT movement_id, account_id, programme, reason, reference,"
            " amount, occurred_at FROM w WHERE name = 'kgo.wallet.CoinsGranted' ORDER BY ord")),
        ("completions", _insert(
            s, "completions", "completion_id, wallet_id, mission_id, programme, campaign,"
            " reward, requested, capped, occurred_at",
            "SELECT completion_id, wallet_id, mission_id, programme, campaign,"
            " CASE WHEN x.name = 'kgo.missions.MissionCompleted' THEN reward ELSE 0 END,"
            " CASE WHEN x.name = 'kgo.missions.MissionCompleted'"
            " THEN coalesce(nullif(requested_reward, 0), reward) ELSE requested_reward END,"
            " x.name = 'kgo.missions.MissionRewardCapped'"
            " OR coalesce(reward < requested_reward, false), occurred_at "
            + _of("kgo.missions.MissionCompleted", "kgo.missions.MissionRewardCapped")
            + " ORDER BY x.ord")),
        ("missions", _insert(
            s, "missions", "mission_id, revision, code, title, campaign, programme, reward,"
            " rule, published_at",
            "SELECT DISTINCT ON (mission_id) mission_id, revision, code, title_en, campaign,"
            " programme, reward, rule->>'kind', occurred_at "
            + _of("kgo.missions.MissionPublished", "kgo.missions.MissionChanged")
            + " ORDER BY mission_id, revision DESC, x.ord DESC",
            "(mission_id) DO UPDATE SET revision = EXCLUDED.revision, code = EXCLUDED.code,"
            " title = EXCLUDED.title, campaign = EXCLUDED.campaign,"
            " programme = EXCLUDED.programme, reward = EXCLUDED.reward,"
            " rule = EXCLUDED.rule WHERE t.revision < EXCLUDED.revision")),
        ("activities", _insert(
            s, "activities", "activity_id, mission_id, code, title, starts_at",
            _select("activity_id, mission_id, code, title_en, starts_at",
                    "kgo.missions.ActivityScheduled")
            + " ORDER BY x.ord")),
        ("check_ins", _insert(
            s, "check_ins", "check_in_id, activity_id, wallet_id, occurred_at",
            _select("check_in_id, activity_id, wallet_id, occurred_at",
                    "kgo.missions.ActivityCheckedIn")
            + " ORDER BY x.ord")),
    ]  # fmt: skip


def _redemptions(s: str) -> list[tuple[str, str]]:
    return [
        ("shops", _insert(
            s, "shops", "shop_id, payee_account_id, label, category, district, size_class,"
            " enrolled_at",
            _select("shop_id, payee_account_id, label, category, district, size_class,"
                    " occurred_at", "kgo.merchant.ShopEnrolled")
            + " ORDER BY x.ord")),
        ("redemptions", _insert(
            s, "redemptions", "redemption_id, shop_id, wallet_id, coins, discount_satang,"
            " bill_satang, occurred_at",
            _select("redemption_id, shop_id, wallet_id, coins, discount_satang, bill_satang,"
                    " occurred_at", "kgo.merchant.DiscountRedeemed")
            + " ORDER BY x.ord")),
    ]  # fmt: skip


def _ridership(s: str) -> list[tuple[str, str]]:
    return [
        ("fares", _insert(
            s, "fares", "trip_id, wallet_id, route_id, fare_product, coins, baht_satang,"
            " campaign, offline, occurred_at",
            "SELECT trip_id, wallet_id, route_id, fare_product, coins, baht_satang, campaign,"
            " coalesce(offline, false), occurred_at "
            + _of("kgo.transit.FarePaid") + " ORDER BY x.ord")),
        ("campaigns", _insert(
            s, "campaigns", "campaign_id, starts_at, ends_at, coins, baht_satang, programme",
            _select("DISTINCT ON (campaign_id) campaign_id, starts_at, ends_at, coins,"
                    " baht_satang, programme", "kgo.transit.CampaignScheduled")
            + " ORDER BY campaign_id, x.ord DESC",
            "(campaign_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,"
            " ends_at = EXCLUDED.ends_at, coins = EXCLUDED.coins,"
            " baht_satang = EXCLUDED.baht_satang, programme = EXCLUDED.programme")),
    ]  # fmt: skip


def _active(s: str) -> list[tuple[str, str]]:
    wallet = [n for n in ACTIVE if n.startswith("kgo.wallet.")]
    others = [n for n in ACTIVE if not n.startswith("kgo.wallet.")]
    return [("active", _insert(
        s, "active_days", "wallet_id, day",
        "SELECT DISTINCT wallet_id, day FROM (SELECT account_id, day FROM w"
        f" WHERE account_kind = 'resident' AND name IN ({_names(wallet)})"
        f" UNION ALL SELECT x.wallet_id, {DAY.format('x.occurred_at')} "
        + _of(*others)
        + ") AS a(wallet_id, day) ORDER BY day, wallet_id",
        "(day, wallet_id) DO NOTHING"))]  # fmt: skip


def _fairness(s: str) -> list[tuple[str, str]]:
    def when(names: Iterable[str]) -> str:
        return f"sum(CASE WHEN name IN ({_names(names)}) THEN amount ELSE 0 END)"

    return [("weeks", _insert(
        s, "resident_weeks", "wallet_id, week, received, spent",
        f"SELECT account_id, date_trunc('week', day::timestamp)::date AS week,"
        f" {when(RECEIVED)}, {when(SPENT)} FROM w WHERE account_kind = 'resident'"
        f" AND name IN ({_names(RECEIVED | SPENT)}) GROUP BY account_id, week"
        " ORDER BY week, account_id",
        "(week, wallet_id) DO UPDATE SET received = t.received + EXCLUDED.received,"
        " spent = t.spent + EXCLUDED.spent"))]  # fmt: skip


def _updates(s: str, models: set[str]) -> list[tuple[str, str]]:
    """Updates of rows the first statement (or an earlier batch) inserted: the batch's last
    event per row wins."""
    out = []
    if "missions" in models:
        out.append(("retired", f"UPDATE {s}.missions AS t SET retired_at = r.occurred_at FROM"
                    " (SELECT DISTINCT ON (mission_id) mission_id, occurred_at "
                    + _of("kgo.missions.MissionRetired")
                    + " ORDER BY mission_id, x.ord DESC) AS r"
                    " WHERE t.mission_id = r.mission_id"))  # fmt: skip
    if "redemptions" in models:
        out.append(("status", f"UPDATE {s}.shops AS t SET suspended = r.suspended FROM"
                    " (SELECT DISTINCT ON (shop_id) shop_id,"
                    " x.name = 'kgo.merchant.ShopSuspended' AS suspended "
                    + _of("kgo.merchant.ShopSuspended", "kgo.merchant.ShopReinstated")
                    + " ORDER BY shop_id, x.ord DESC) AS r"
                    " WHERE t.shop_id = r.shop_id"))  # fmt: skip
        out.append(("voids", f"UPDATE {s}.redemptions AS t SET voided_at = r.occurred_at FROM"
                    " (SELECT DISTINCT ON (redemption_id) redemption_id, occurred_at "
                    + _of("kgo.merchant.RedemptionVoided")
                    + " ORDER BY redemption_id, x.ord DESC) AS r"
                    " WHERE t.redemption_id = r.redemption_id"))  # fmt: skip
    return out


#: The batch's latest business time: of the folded events and of the others ($3, a JSON
#: array of the events no read model takes anything from but their time).
LATEST = (
    "SELECT GREATEST((SELECT max(occurred_at) FROM ev), (SELECT max(occurred_at) FROM"
    " json_to_recordset(convert_from($3::bytea, 'UTF8')::json) AS o(occurred_at timestamptz)))"
)


def _statement(ctes: list[tuple[str, str]], main: str = "SELECT 1") -> str:
    body = ", ".join(f"{name} AS ({sql})" for name, sql in ctes)
    return f"WITH {EVENTS}, {_ledger_entries()}, {body} {main}"


class SqlFold:
    """The statements folding one batch into ``models`` in ``schema``: :attr:`rows` (inserts
    and sums; returns the batch's latest business time), :attr:`updates` (run on the
    batch's :data:`UPDATES` events only, after it), :attr:`progress` (the latest business
    time, last: the one row every batch updates is locked until its commit only)."""

    def __init__(self, schema: str, models: Iterable[str]) -> None:
        models = set(models)
        ctes: list[tuple[str, str]] = []
        for model, part in (("ledger", _ledger), ("daily_totals", _daily),
                            ("missions", _missions), ("redemptions", _redemptions),
                            ("ridership", _ridership), ("active_residents", _active),
                            ("fairness", _fairness)):  # fmt: skip
            if model in models:
                ctes += part(schema)
        self.rows = _statement(ctes, LATEST)
        updates = _updates(schema, models)
        self.updates = _statement(updates) if updates else None
        self.progress = (
            f"UPDATE {schema}.progress SET committed_at = now(), business_time ="
            " GREATEST(business_time, $1::timestamptz) WHERE id = 1"
        )

    async def apply(
        self,
        conn: asyncpg.Connection,
        names: list[str],
        values: list[bytes],
        others: list[bytes] = (),  # type: ignore[assignment]
    ) -> None:
        """Fold the records whose wire names (all in :data:`FOLDED`) and values are
        ``names`` and ``values`` (one partition, offset order); ``others``: the values of
        records of the batch no read model takes more than their business time from."""
        latest = await conn.fetchval(self.rows, ",".join(names), _array(values), _array(others))
        if self.updates is not None and not UPDATES.isdisjoint(names):
            later = [i for i, name in enumerate(names) if name in UPDATES]
            await conn.execute(self.updates, ",".join(names[i] for i in later),
                               _array([values[i] for i in later]))  # fmt: skip
        if latest is not None:
            await conn.execute(self.progress, latest)


def _array(values: list[bytes]) -> bytes:
    return b"[" + b",".join(values) + b"]"
