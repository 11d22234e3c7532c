"""The simulator's plan is pure and deterministic: same seed, same city, same actions."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date

import pytest

from kgo_cli.simulate.plan import PRESETS, City, CityConfig, idempotency_key, national_id, phone
from kgo_cli.simulate.runner import gini
from services.wallet.entrypoints.http.thai_ids import thai_mobile, thai_national_id

pytestmark = pytest.mark.unit


def kinds(city: City) -> Counter[str]:
    return Counter(a.kind for d in range(city.config.days) for a in city.plan(d).actions)


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    config = CityConfig(residents=300, shops=20)
    one, two = City(config), City(config)
    assert [one.plan(d) for d in range(0, config.days, 7)] == [
        two.plan(d) for d in range(0, config.days, 7)
    ]
    assert one.plan(40) != City(replace(config, seed=1)).plan(40)


def test_the_seed_articles_figures_are_the_defaults() -> None:
    config = CityConfig()
    assert (config.residents, config.shops, config.buses, config.route_km) == (1000, 200, 10, 17)
    assert (config.fare_regular_satang, config.fare_student_satang) == (1500, 1000)
    assert (config.campaign_start, config.campaign_end) == (date(2022, 6, 9), date(2022, 8, 31))
    assert config.start < config.campaign_start and config.end > config.campaign_end
    assert PRESETS["published"]["residents"] == 7000 and PRESETS["published"]["shops"] > 600


def test_every_resident_signs_up_once_and_the_campaign_brings_more_rides() -> None:
    city = City(CityConfig(residents=500, shops=20))
    assert kinds(city)["signup"] == 500
    rides = {True: 0, False: 0}
    days = {True: 0, False: 0}
    for d in range(city.config.days):
        plan = city.plan(d)
        rides[plan.campaign] += sum(a.kind == "ride" for a in plan.actions)
        days[plan.campaign] += 1
    assert rides[True] / days[True] > 1.5 * rides[False] / days[False]


def test_identities_are_valid_and_distinct() -> None:
    ids = {national_id(2022, i) for i in range(2000)}
    phones = {phone(2022, i) for i in range(2000)}
    assert len(ids) == len(phones) == 2000
    for i in range(0, 2000, 97):
        assert thai_national_id(national_id(2022, i)) == national_id(2022, i)
        assert thai_mobile(phone(2022, i)) == phone(2022, i)
    assert idempotency_key(1, 2, "r3", 4) == "sim-1-d2-r3-4"


def test_gini() -> None:
    assert gini([]) == 0.0
    assert gini([5, 5, 5, 5]) == 0.0
    assert abs(gini([0, 0, 0, 100]) - 0.75) < 1e-9
