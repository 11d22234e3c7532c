"""`kgo simulate`'s city on the five real `kgo serve` processes (demo profile, one shared
business clock, schemas and topics of their own), through the merchant and transit APIs:
sign-ups with the SMS code, missions, shop payments with payment codes, rewards, bus taps
online and offline validators' evening batches, a Saturday activity and the Sunday
settlements (two buses, every second door offline, most riders careless, so evening
batches come up short). Then checked from outside: the fold of the wallet's topic equals
every balance the wallet answers and the projections' balances and supply; the supply is
conserved; every mission completion is answered once, every captured hold has its
redemption, every fare its payment. Run twice with the same seed (the first stopped after
three days and resumed by a new simulator) on budgets small enough to run out mid-run, in
the middle of one resident's day and of one offline batch: the same totals, command
counts and event counts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kgo_cli.simulate.check import check_city
from kgo_cli.simulate.harness import Platform
from kgo_cli.simulate.plan import CityConfig
from kgo_cli.simulate.runner import Simulator
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.e2e

# Wednesday 8 June (the day before the 1-baht bus) to Sunday 12 June 2022.
#: Two buses, every second door offline and most riders careless (they tap without looking
#: at the app): evening batches come up short and the offline-loss budget runs out within
#: one.
CITY = CityConfig(
    seed=7, residents=160, shops=12, start=date(2022, 6, 8), end=date(2022, 6, 12),
    buses=2, rider_share=0.5, careless_share=0.6,
)  # fmt: skip
#: Small enough that the welcome and activity budgets run out during the five days: the
#: welcome budget's last coins fall on Saturday where one resident's first shop payment
#: (merchant -> missions) and its check-in (missions) could each be paid, not both; the
#: offline-loss budget's on Sunday within one offline batch.
TIGHT = (
    ("welcome", "Welcome bonus and missions", 7_275),
    ("municipal-activities", "Municipal activities", 140),
    ("one-baht-bus-2022", "1-baht city bus", 1_000),
    ("shop-matching", "Shops' rewards matched by the city", 60),
    ("offline-loss", "Offline fares", 200),
)


@pytest.fixture
def restore_env() -> Iterator[None]:
    import os

    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


async def run_city(home: Path, stop_after: int | None = None) -> dict[str, Any]:
    platform = Platform(home)
    await platform.create(CITY)
    try:
        platform.start()
        await platform.prepare_treasury(budgets=TIGHT)

        def simulator() -> Simulator:
            return Simulator(CITY, home, platform.urls, concurrency=8, direct=False)

        routes: Counter[str] = Counter()  # requests by route (retries too): to read a failure
        if stop_after is not None:  # stopped early, then resumed by a new simulator
            stopped = simulator()
            await stopped.run(until=stop_after)
            routes.update({r: int(n) for r, (n, _) in stopped.timings.items()})
            assert json.loads((home / "simulation.json").read_text())["next_day"] == stop_after
        city = simulator()
        await city.run()
        routes.update({r: int(n) for r, (n, _) in city.timings.items()})
        (home / "routes.json").write_text(json.dumps(dict(sorted(routes.items())), indent=1))
        assert await city.settled()
        summary = await city.summary()
        admin = (home / "secrets" / "admin.token").read_text().strip()
        accounts = [*city.wallets.values(), *city.shop_payees.values(), city.bus_payee]
        found = await check_city(
            city.api, platform.urls, InfraSettings().kafka_bootstrap, platform.topics, admin,
            accounts,
        )  # fmt: skip
        await city.api.close()
        assert found.problems == []
        summary["events"] = {s: dict(sorted(found.types(s).items())) for s in found.records}
        (home / "checked-summary.json").write_text(json.dumps(summary, indent=1, default=str))
        again = Simulator(CITY, home, platform.urls, direct=False)  # finished: repeats nothing
        await again.run()
        assert again.totals.as_dict() == city.totals.as_dict()
        return summary
    finally:
        platform.stop()
        await platform.drop()


@pytest.mark.timeout(900)
async def test_the_city_agrees_with_itself_and_repeats(tmp_path: Path, restore_env: None) -> None:
    first = await run_city(tmp_path / "one", stop_after=3)
    counts, refusals = first["totals"]["counts"], first["totals"]["refusals"]
    assert counts["residents_signed_up"] == first["residents"] > 100
    assert 0 < counts["welcome_received"] < first["residents"]  # the budget ran out
    assert refusals["welcome:budget_exhausted"] > 0
    assert counts["redemptions"] > 0 and counts["rides_coins"] > 0 and counts["check_ins"] > 0
    assert counts["taps_offline"] > 0 and counts["settlements"] > 0
    assert first["events"]["transit"].get("FarePaid", 0) >= counts["rides_coins"]
    assert first["events"]["merchant"]["DiscountRedeemed"] == counts["redemptions"]
    assert first["events"]["wallet"].get("GrantRefused", 0) > 0
    assert refusals.get("ride:pass_denied", 0) == 0
    # The two races the waves settle: a resident's own grants that the welcome budget pays
    # only one of (its day cut in two), and covers the offline-loss budget pays only some
    # of within one offline batch (the batch cut in two).
    assert counts["resident_days_split"] > 0 and counts["offline_batches_split"] > 0
    assert counts["shortfalls_covered"] > 0
    second = await run_city(tmp_path / "two")
    assert first == second
