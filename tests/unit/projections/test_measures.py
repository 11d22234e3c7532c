"""Fairness measures and the small-count rule."""

from __future__ import annotations

import itertools
import random

import pytest

from services.projections.domain.measures import Suppression, gini, share, top_share

pytestmark = pytest.mark.unit


def textbook_gini(values: list[int]) -> float:
    n, mean = len(values), sum(values) / len(values)
    return sum(abs(a - b) for a, b in itertools.product(values, values)) / (2 * n * n * mean)


def test_gini_is_zero_when_all_hold_the_same_and_grows_with_concentration() -> None:
    assert gini([5, 5, 5, 5]) == 0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)  # (n - 1) / n: one holds everything
    assert gini([]) is None
    assert gini([0, 0]) is None


def test_gini_equals_the_mean_absolute_difference_definition() -> None:
    rng = random.Random(3)
    for _ in range(50):
        values = [rng.randrange(0, 500) for _ in range(rng.randrange(1, 40))]
        if sum(values) == 0:
            continue
        assert gini(values) == pytest.approx(textbook_gini(values))


def test_top_share_and_share() -> None:
    assert top_share([1] * 20, top=10) == pytest.approx(0.5)
    assert top_share([100, 1, 1], top=1) == pytest.approx(100 / 102)
    assert top_share([]) is None
    assert share(1, 4) == 0.25 and share(1, 0) is None


def test_suppression_withholds_figures_about_fewer_than_k_residents() -> None:
    rule = Suppression()
    assert rule.k == 10
    assert rule.count(9) is None and rule.count(10) == 10
    assert rule.value(3, 1234) is None and rule.value(12, 1234) == 1234
    assert Suppression(3).allows(3) and not Suppression(3).allows(2)
