"""The rules suite of ``tests/unit/missions/test_progress.py``, run again on the real
Postgres store (one suite, two backends): the same test bodies, with ``missions`` opened on
PostgreSQL in a fresh schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest

from kgo_runtime.eventstore import get_many, select_events_after
from services.missions.adapters.event_store import open_missions
from services.missions.application.service import MissionsApplication
from services.missions.domain.ids import progress_id
from services.missions.settings import MissionsSettings
from tests.unit.missions.conftest import T0, ConsumerHarness, fare, opened
from tests.unit.missions.test_progress import (  # the suite itself, not a copy
    test_a_change_never_rewrites_what_was_earned,
    test_distinct_shops_and_first_time,
    test_every_contract_example_goes_through_the_dispatch,
    test_five_rides_a_day_judged_at_each_tap_time_whatever_the_arrival_order,
    test_registration_earns_the_welcome_bonus_exactly_once,
    test_retiring_closes_the_window_at_its_business_time,
    test_rules_are_validated_at_publish_time,
    test_the_welcome_cap_cuts_and_records_never_drops,
)

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_change_never_rewrites_what_was_earned",
    "test_distinct_shops_and_first_time",
    "test_every_contract_example_goes_through_the_dispatch",
    "test_five_rides_a_day_judged_at_each_tap_time_whatever_the_arrival_order",
    "test_registration_earns_the_welcome_bonus_exactly_once",
    "test_retiring_closes_the_window_at_its_business_time",
    "test_rules_are_validated_at_publish_time",
    "test_the_welcome_cap_cuts_and_records_never_drops",
]


@pytest.fixture
async def missions() -> AsyncIterator[MissionsApplication]:
    settings = MissionsSettings(database_schema=f"t_rules_{uuid4().hex[:10]}")
    app = await asyncio.to_thread(open_missions, settings)
    yield app
    app.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {settings.database_schema} CASCADE")


@pytest.fixture
def harness(missions: MissionsApplication) -> ConsumerHarness:
    return ConsumerHarness(missions)


async def test_many_aggregates_new_events_in_one_round_trip_equal_one_at_a_time(
    missions: MissionsApplication, harness: ConsumerHarness
) -> None:
    """The batched consumer's read (kgo_runtime.eventstore.select_events_after, under
    get_many) gives what eventsourcing's own select_events gives aggregate by aggregate, and
    get_many the aggregates the repository gives."""
    wallets = [uuid4() for _ in range(4)]
    for n, wallet in enumerate(wallets):
        await harness.feed(opened(wallet))
        for ride in range(n):
            await harness.feed(fare(wallet, T0 + timedelta(hours=ride)))
    after = {progress_id(w): n for n, w in enumerate(wallets)} | {uuid4(): 0}
    together = select_events_after(missions.recorder, after)  # type: ignore[arg-type]
    apart = [
        e for pid, v in after.items() for e in missions.recorder.select_events(pid, gt=v or None)
    ]
    assert together == sorted(apart, key=lambda e: (e.originator_id, e.originator_version))
    assert len(together) > 0
    many = get_many(missions, after)
    assert set(many) == set(after) - {next(reversed(after))}  # the id with no events: absent
    for pid, progress in many.items():
        assert progress.__dict__ == missions.repository.get(pid).__dict__
