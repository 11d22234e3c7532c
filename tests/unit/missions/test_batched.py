"""The consumer's batched mode (MissionsApplication.observe_many): a batch of records
decides exactly what the same records decide one at a time, in one save."""

from __future__ import annotations

import random
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from services.missions.application import commands as c
from services.missions.application.service import MissionsApplication

from .conftest import T0, ConsumerHarness, fare, mission_spec, opened, redeemed

pytestmark = pytest.mark.unit


def _publish(missions: MissionsApplication, specs: list[dict[str, object]]) -> None:
    for i, spec in enumerate(specs):
        missions.execute(
            c.PublishMission(idempotency_key=f"p{i}", caller="municipal_admin:t", at=T0, spec=spec)
        )


def _story(wallets: list[UUID], shops: list[UUID]) -> list[tuple[object, str]]:
    rng = random.Random(7)
    events: list[tuple[object, str]] = [(opened(w), f"open-{w}") for w in wallets]
    for n in range(120):
        wallet, at = rng.choice(wallets), T0 + timedelta(hours=rng.randrange(0, 72))
        if rng.random() < 0.6:
            events.append((fare(wallet, at), f"fare-{n}"))
        else:
            events.append((redeemed(wallet, rng.choice(shops), at), f"buy-{n}"))
    rng.shuffle(events)  # arrival order is not business order
    return events


def _earned(missions: MissionsApplication, wallets: list[UUID]) -> list[tuple[str, ...]]:
    return sorted(
        (str(d.completion_id), d.period, str(d.reward), d.occurred_at.isoformat())
        for w in wallets
        for d in missions.completions(w)
    )


async def test_a_batch_decides_what_the_same_records_decide_one_by_one() -> None:
    specs = [
        mission_spec(reward=20, period="daily",
                     rule={"kind": "count", "event": "fare_paid", "count": 3}),
        mission_spec(reward=30, period="weekly",
                     rule={"kind": "distinct_shops", "shops": 2}),
        mission_spec(reward=10, period="once", rule={"kind": "first_time", "event": "fare_paid"}),
    ]  # fmt: skip
    wallets, shops = [uuid4() for _ in range(6)], [uuid4() for _ in range(3)]
    story = _story(wallets, shops)
    one, many = MissionsApplication(), MissionsApplication()
    _publish(one, specs)
    _publish(many, specs)
    singles, batches = ConsumerHarness(one), ConsumerHarness(many)
    for event, ce_id in story:
        await singles.feed(event, ce_id)  # type: ignore[arg-type]
    for start in range(0, len(story), 25):
        await batches.feed_batch(story[start : start + 25])  # type: ignore[arg-type]
    assert _earned(many, wallets) == _earned(one, wallets)
    assert _earned(many, wallets), "the story should complete something"
    # The whole history again in one batch, past the inbox: every fact is known, no change.
    batches.inbox.clear()
    before = _earned(many, wallets)
    await batches.feed_batch(story)  # type: ignore[arg-type]
    assert _earned(many, wallets) == before


async def test_one_save_for_a_batch_and_none_when_nothing_changes() -> None:
    missions = MissionsApplication()
    harness = ConsumerHarness(missions)
    saves: list[int] = []
    save = missions.save

    def counted(*aggregates: object, **kwargs: object) -> object:
        saves.append(len(aggregates))
        return save(*aggregates, **kwargs)  # type: ignore[arg-type]

    missions.save = counted  # type: ignore[method-assign]
    wallets = [uuid4() for _ in range(5)]
    await harness.feed_batch([(opened(w), f"o{w}") for w in wallets])  # type: ignore[arg-type]
    assert saves == [5]  # five residents' progress, one save
    assert all(len(missions.completions(w)) == 1 for w in wallets)  # the sign-up bonus each
    harness.inbox.clear()
    await harness.feed_batch([(opened(w), f"o{w}") for w in wallets])  # type: ignore[arg-type]
    assert saves == [5]  # all known: nothing saved
