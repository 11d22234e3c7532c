"""One batch folded in memory: the contract examples' wallet story gives the reference
fold's balances, the day's public totals and the residents who acted."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from kgo_contracts.base import ContractEvent
from kgo_contracts.examples import RESIDENT, example_ce_id, wallet_story
from kgo_contracts.fold import fold
from services.projections.domain.changes import DAILY_FIELDS, fold_batch, week_of

pytestmark = pytest.mark.unit


def pairs(events: tuple[ContractEvent, ...]) -> list[tuple[str, ContractEvent]]:
    return [(e.wire_name, e) for e in events]


def test_balances_of_a_batch_equal_the_reference_fold() -> None:
    story = wallet_story()
    changes = fold_batch(pairs(story))
    reference = fold((example_ce_id(e), e.ce_type(), e.model_dump(mode="json")) for e in story)
    folded = {str(a): (b[0], b[1]) for a, b in changes.balances.items()}
    assert folded == {a: (b.available, b.held) for a, b in reference.balances.items()}
    for _account, (d_available, d_held, _version, available, held, _at) in changes.balances.items():
        assert (d_available, d_held) == (available, held)  # a whole history: deltas = balance


def test_daily_totals_and_active_residents_of_the_story() -> None:
    story = wallet_story()
    changes = fold_batch(pairs(story))
    day = date(2022, 6, 10)
    totals = dict(zip(DAILY_FIELDS, changes.daily[(day, "*")], strict=True))
    names = Counter(e.wire_name for e in story)
    assert totals["minted"] == 1_000_000
    granted = sum(e.amount for e in story if e.wire_name == "kgo.wallet.CoinsGranted")  # type: ignore[attr-defined]
    assert totals["granted"] == granted > 0
    assert names["kgo.wallet.CoinsSpent"] + names["kgo.wallet.HoldCaptured"] > 0
    assert totals["spent"] > 0
    assert (RESIDENT, day) in changes.active_days
    assert changes.latest is not None


def test_weeks_start_on_monday() -> None:
    assert week_of(date(2022, 6, 12)) == date(2022, 6, 6)
    assert week_of(date(2022, 6, 6)) == date(2022, 6, 6)


def test_a_mission_published_and_changed_in_one_batch_is_one_row_at_its_last_revision() -> None:
    from kgo_contracts.examples_missions import examples as missions

    definitions = [e for e in missions() if e.wire_name.endswith(("Published", "Changed"))]
    changes = fold_batch(pairs(tuple(definitions)))
    revisions = {row[0]: row[1] for row in changes.missions.values()}
    assert len(revisions) == len({e.mission_id for e in definitions})  # type: ignore[attr-defined]
    assert max(revisions.values()) == 2  # the examples' mission changed once
