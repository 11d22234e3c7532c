"""Each read model equals an independent fold of the raw topics; re-delivery changes
nothing; a replay from scratch reproduces identical tables; ``--until`` rebuilds the city
of a known past moment; a malformed record is dead-lettered and the projection carries on.

Story: a synthetic month of June 2022 (``history.py``) on the test's own topics."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import asyncpg
import pytest

from kgo_contracts import wallet as w
from kgo_contracts.base import BANGKOK
from kgo_runtime.envelope import header_map
from kgo_runtime.testing import read_topic
from services.projections.adapters.queries import ReadModels
from services.projections.adapters.tables import model_names, tables_of
from services.projections.domain.measures import Suppression
from services.projections.entrypoints.replay import Replay
from services.projections.settings import ProjectionsSettings

from . import expected
from .conftest import BOOTSTRAP, DSN, dump, live_consumer, produce, records, wait_for_position
from .history import CAMPAIGN_END, build

pytestmark = pytest.mark.integration

if not hasattr(__import__("kgo_contracts.transit").transit, "CampaignScheduled"):
    # The synthetic history uses the transit contracts of the transit branch.
    pytest.skip("transit contracts not merged yet", allow_module_level=True)


async def read_models(schema: str) -> tuple[asyncpg.Pool, ReadModels]:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    return pool, ReadModels(pool, schema, Suppression(3))


async def check_against_fold(models: ReadModels, events: list, *, live: bool = True) -> None:
    supply = await models.supply()
    assert {k: supply[k] for k in expected.supply(events)} == expected.supply(events)
    assert supply["circulating"] == supply["minted"] == 1_000_000
    if live:
        assert supply["balances_differing_from_wallet"] == 0
    for account, (available, held) in list(expected.balances(events).items())[:25]:
        found = await models.balance(__import__("uuid").UUID(account), None)
        assert found is not None and (found["available"], found["held"]) == (available, held)

    days = {r["day"]: r for r in await models.daily_totals(None, None) if r["programme"] == "*"}
    for d, sums in expected.daily_city(events).items():
        for name, value in sums.items():
            assert days[d][name] == value, (d, name)

    by_district = {
        r["district"]: (r["redemptions"], r["coins"], r["residents"])
        for r in await models.redemptions("district")
    }
    assert by_district == expected.redemptions_by_district(events)

    cells = {
        (r["route_id"], r["day"], r["hour"], r["in_campaign"]): r["rides"]
        for r in await models.ridership(None, None)
    }
    assert cells == expected.rides(events)

    active = {r["period"]: r["residents"] for r in await models.active_residents("day", None)}
    assert active == expected.active_per_day(events)

    fairness = {r["district"]: r for r in await models.fairness_by_district()}
    assert fairness["all"]["gini_holdings"] == pytest.approx(
        expected.gini(expected.resident_holdings(events))
    )
    funnel = await models.mission_funnel()
    paid, capped = expected.completions(events)
    assert (
        sum(r["completed"] for r in funnel) + sum(r["capped"] for r in funnel if r["capped"])
        >= paid
    )
    assert sum(r["capped"] for r in funnel) == capped


async def test_read_models_equal_an_independent_fold_and_survive_redelivery_and_replay(
    settings: ProjectionsSettings,
) -> None:
    history = build(residents=40)
    outgoing = records(settings, history.events)
    poisoned = replace(outgoing[50], value=b'{"not": "a contract"')
    await produce([*outgoing[:100], poisoned, *outgoing[100:]])
    total = len(outgoing) + 1
    schema = settings.database_schema
    tables = tables_of(model_names())

    async with live_consumer(settings):
        await wait_for_position(settings, total)
        pool, models = await read_models(schema)
        try:
            await check_against_fold(models, history.events)
        finally:
            await pool.close()
        before = await dump(schema, tables)

        # The relay republishes a stretch after a crash: same ce_ids, new offsets.
        await produce(outgoing[200:400])
        await wait_for_position(settings, total + 200)
        assert await dump(schema, tables) == before

        # A replay from scratch, swapped in while the live consumer runs: identical tables.
        report = await Replay(settings).run()
        assert report.events == total + 200
        assert report.skipped == 1  # the poisoned record, not dead-lettered twice
        assert await dump(schema, tables) == before

        # The live consumer goes on writing into the swapped-in tables.
        budget = next(a for a in history.accounts.values() if a.kind == "budget")
        resident = next(a for a in history.accounts.values() if a.kind == "resident")
        at = max(e.business_time() for e in history.events)
        history.move(w.GrantDisbursed, w.CoinsGranted, budget.id, resident.id, 5, at,
                     programme="welcome", reason="late", reference="late-1")  # fmt: skip
        await produce(records(settings, history.events[-2:]))
        await wait_for_position(settings, total + 202)
        pool, models = await read_models(schema)
        try:
            await check_against_fold(models, history.events)
        finally:
            await pool.close()

    letters = await read_topic(BOOTSTRAP, poisoned.topic + ".dlq", count=1)
    assert [header_map(r.headers)["kgo_dlq_reason_code"] for r in letters] == ["invalid_json"]


async def test_until_rebuilds_the_city_of_a_past_moment_beside_the_live_one(
    settings: ProjectionsSettings,
) -> None:
    history = build(residents=30, seed=11)
    await produce(records(settings, history.events))
    until = CAMPAIGN_END  # the last moment of the 1-baht campaign
    report = await Replay(settings, until=until, snapshot="campaign_end").run()
    assert report.schema == settings.snapshot_schema("campaign_end")
    pool, models = await read_models(report.schema)
    try:
        past = expected.upto(history.events, until)
        await check_against_fold(models, past, live=False)
        progress = await models.progress()
        assert progress["snapshot_until"] == until
        assert progress["business_time"] <= until
    finally:
        await pool.close()

    # The live read models (a replay of one model too) know the whole month.
    await Replay(settings, ["ledger"]).run()
    pool, models = await read_models(settings.database_schema)
    try:
        supply = await models.supply()
        assert supply["residents"] == expected.supply(history.events)["residents"]
        at = datetime(2022, 6, 12, 12, 0, tzinfo=BANGKOK)
        then = await models.supply(at)
        assert then["residents"] == expected.supply(expected.upto(history.events, at))["residents"]
    finally:
        await pool.close()
