"""The simulator's ordering of grants that compete for a budget's last coins (pure)."""

from __future__ import annotations

import pytest

from kgo_cli.simulate.barrier import Snapshot, parse_metrics
from kgo_cli.simulate.claims import day_claims, fits, shop_sources, waves
from kgo_cli.simulate.plan import Action
from kgo_cli.simulate.state import Progress

pytestmark = pytest.mark.unit


def test_claims_that_fit_together_share_a_wave_and_the_rest_waits() -> None:
    units = [(i, [("welcome", 100)]) for i in range(5)]
    wave, rest = waves(units, {"welcome": 250})
    assert wave == [0, 1] and [u for u, _ in rest] == [2, 3, 4]


def test_a_claim_larger_than_the_budget_is_refused_whatever_the_order() -> None:
    units = [(i, [("welcome", 100)]) for i in range(5)]
    wave, rest = waves(units, {"welcome": 99})
    assert wave == [0, 1, 2, 3, 4] and rest == []
    assert fits([("welcome", 100)], {"welcome": 99}) == {"welcome": False}


def test_a_unit_alone_always_makes_a_wave() -> None:
    wave, rest = waves([("a", [("welcome", 50), ("welcome", 100)])], {"welcome": 120})
    assert wave == ["a"] and rest == []


def test_a_day_claims_only_the_missions_it_can_still_complete() -> None:
    pay = [Action("pay", "r1", 0, 1, shop=3, coins=20)]
    assert day_claims(pay, Progress(), {}) == [("welcome", 50)]
    assert day_claims(pay, Progress(redeemed=True, shops={1, 2}), {}) == [("welcome", 100)]
    assert day_claims(pay, Progress(redeemed=True, shops={1, 3}), {}) == []
    rides = [Action("ride", "r1", n, 1) for n in range(2)]
    assert day_claims(rides, Progress(trips_paid=8), {}) == [("welcome", 50)]
    assert day_claims(rides, Progress(trips_paid=10), {}) == []
    check_in = [Action("check_in", "r1", 0, 1)]
    assert day_claims(check_in, Progress(), {}) == [
        ("municipal-activities", 20),
        ("welcome", 50),
    ]


def test_shop_rewards_fall_to_the_matching_budget_in_plan_order() -> None:
    earns = [Action("earn", f"r{i}", 1, i, shop=0, coins=10) for i in range(3)]
    assert shop_sources(earns, {0: 25}) == {("r2", 1): 10}


def test_the_barrier_reads_relays_and_consumer_positions() -> None:
    text = "\n".join([
        '# HELP kgo_relay_lag_events x',
        'kgo_relay_lag_events{relay="wallet"} 0.0',
        'kgo_consumer_position{consumer="c",partition="1",topic="t"} 7.0',
    ])  # fmt: skip
    idle, positions = parse_metrics(text)
    assert idle and positions == {("c", "t", 1): 7.0}
    assert Snapshot(idle, positions, {("t", 1): 7}).caught_up
    assert not Snapshot(idle, positions, {("t", 1): 8}).caught_up
    assert not parse_metrics('kgo_relay_lag_events{relay="w"} 3.0')[0]
