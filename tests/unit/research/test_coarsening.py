"""No published group describes fewer than k residents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.research.domain.coarsening import Group, coarsen

pytestmark = pytest.mark.unit


def group(day: str, shop: str, residents: int, start: int = 0) -> Group:
    return Group(
        {"day": day, "shop": shop},
        {"coins": residents * 10},
        {f"r{start + i}" for i in range(residents)},
    )


def test_big_groups_stay_small_ones_merge_into_other():
    rows = coarsen(
        [group("d1", "a", 12), group("d1", "b", 6), group("d1", "c", 5, start=50)],
        frame=["day"],
        fine=["shop"],
        k=10,
    )
    assert [
        (r["shop"], r["residents"], r["coins"], r["coarsened"], r["suppressed"]) for r in rows
    ] == [
        ("a", 12, 120, False, False),
        ("other", 11, 110, True, False),
    ]


def test_a_merged_group_still_too_small_is_suppressed_not_dropped():
    rows = coarsen([group("d1", "a", 3), group("d2", "a", 12)], frame=["day"], fine=["shop"], k=10)
    small = next(r for r in rows if r["day"] == "d1")
    assert small["suppressed"] and small["coins"] is None and small["residents"] is None
    assert small["shop"] == "other"


def test_without_fine_keys_small_rows_are_suppressed():
    rows = coarsen([Group({"week": "w1"}, {"coins": 5}, {"r1"})], frame=["week"], fine=[], k=10)
    assert rows == [
        {"week": "w1", "coins": None, "residents": None, "coarsened": False, "suppressed": True}
    ]


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("xyz"), st.integers(0, 25)), max_size=12
    )
)
def test_every_published_figure_covers_at_least_k_residents(spec):
    groups = [group(d, s, n, start=i * 100) for i, (d, s, n) in enumerate(spec)]
    for row in coarsen(groups, frame=["day"], fine=["shop"], k=10):
        assert row["suppressed"] or row["residents"] >= 10
