"""What a ride costs at tap time: the 1-baht bus window, its edges in Bangkok time and UTC."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kgo_runtime.clock import BANGKOK
from services.transit.domain.errors import InvalidSchedule
from services.transit.domain.fares import DEFAULT_PRODUCTS, Campaign, fare_for

from .conftest import CAMPAIGN_END, CAMPAIGN_START, ONE_BAHT_BUS, UTC

pytestmark = pytest.mark.unit


def fare(at: datetime, product: str = "regular") -> tuple[int, int, str]:
    f = fare_for(DEFAULT_PRODUCTS, [ONE_BAHT_BUS], product, at)
    return f.coins, f.baht_satang, f.fare_product


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (CAMPAIGN_START - timedelta(seconds=1), (0, 1500, "regular")),
        (CAMPAIGN_START, (50, 100, "one-baht-bus-2022")),
        (CAMPAIGN_END, (50, 100, "one-baht-bus-2022")),
        (datetime(2022, 9, 1, 0, 0, 0, tzinfo=BANGKOK), (0, 1500, "regular")),
        # the same instants written in UTC: 31 Aug 23:59:59 +07 is 16:59:59Z
        (datetime(2022, 8, 31, 16, 59, 59, tzinfo=UTC), (50, 100, "one-baht-bus-2022")),
        (datetime(2022, 8, 31, 17, 0, 0, tzinfo=UTC), (0, 1500, "regular")),
        # 31 Aug 23:59:59 UTC is already 1 Sep 06:59:59 in Khon Kaen: outside
        (datetime(2022, 8, 31, 23, 59, 59, tzinfo=UTC), (0, 1500, "regular")),
        (datetime(2022, 6, 8, 17, 0, 0, tzinfo=UTC), (50, 100, "one-baht-bus-2022")),
    ],
)
def test_campaign_window_is_inclusive_to_the_second(
    at: datetime, expected: tuple[int, int, str]
) -> None:
    assert fare(at) == expected


def test_outside_a_campaign_the_product_sets_the_baht_fare() -> None:
    assert fare(datetime(2022, 5, 1, 9, tzinfo=BANGKOK), "student") == (0, 1000, "student")


def test_unknown_product_is_refused() -> None:
    with pytest.raises(InvalidSchedule):
        fare(CAMPAIGN_START, "vip")


def test_campaign_rules() -> None:
    with pytest.raises(InvalidSchedule):
        Campaign("x", CAMPAIGN_END, CAMPAIGN_START, 50, 100, "p")
    with pytest.raises(InvalidSchedule):
        Campaign("x", datetime(2022, 1, 1), CAMPAIGN_END, 50, 100, "p")  # naive
    with pytest.raises(InvalidSchedule):
        Campaign("x", CAMPAIGN_START, CAMPAIGN_END, 0, 100, "p")
    with pytest.raises(InvalidSchedule):
        Campaign("x", CAMPAIGN_START, CAMPAIGN_END, 50, 100, "p", daily_cap=0)
