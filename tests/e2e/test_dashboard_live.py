"""The dashboard on the real projections service: a `kgo serve projections` process on its
own schema and topics folds a synthetic month of the city (every service's events, produced
to Kafka); Debian's Chromium shows the page, every number equals the API's, the charts draw
them, and one more event on Kafka (a shop enrolled in a new district) reaches the open page
without a reload. Screenshot: tests/artifacts/dashboard-live.png. And the city of a past
moment, replayed with `kgo replay --until`, shown beside the live one."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser

from kgo_contracts import merchant
from kgo_contracts import topics as names
from kgo_contracts.base import ContractEvent
from kgo_runtime.envelope import encode
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from tests.integration.projections.history import CAMPAIGN_END, DISTRICTS, build

from .dashboard_page import (
    api_value,
    assert_charts_drawn,
    assert_numbers_match,
    browser,
    open_page,
    rendered,
    screenshot,
    settled,
)
from .platform import ServiceProcess, kgo, service_process

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture
BOOTSTRAP = InfraSettings().kafka_bootstrap
NEW_DISTRICT = "Nam Phong"


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    mine = {topic: unique_name(f"e2e.dash.{topic.split('.')[1]}") for topic in names.EVENT_TOPICS}
    every = [*mine.values(), *(names.dlq(t) for t in mine.values())]
    await create_topics(BOOTSTRAP, every, partitions=3)
    yield mine
    await delete_topics(BOOTSTRAP, every)


async def produce(topics: dict[str, str], events: list[ContractEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            record = encode(event, ce_id=str(uuid.uuid4()), source=event.ce_source(),
                            topic_for=lambda e: topics[e.topic])  # fmt: skip
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
def projections(topics: dict[str, str], tmp_path: Path) -> Iterator[ServiceProcess]:
    env = {
        "PROJECTIONS_WALLET_TOPIC": topics[names.WALLET],
        "PROJECTIONS_MISSIONS_TOPIC": topics[names.MISSIONS],
        "PROJECTIONS_MERCHANT_TOPIC": topics[names.MERCHANT],
        "PROJECTIONS_TRANSIT_TOPIC": topics[names.TRANSIT],
        "PROJECTIONS_CONSUMER_NAME": unique_name("e2e_dash"),
        "PROJECTIONS_SUPPRESS_BELOW": "3",
    }
    process = service_process("projections", tmp_path / "home", env, tmp_path)
    process.start()
    yield process
    process.stop()
    process.drop_schema()


def caught_up(url: str, until: Any = None, timeout: float = 60) -> dict[str, Any]:
    """The overview once the service read every record (and ``until(overview)`` holds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/v1/public/overview", timeout=5)
        if answer.status_code == 200:
            body: dict[str, Any] = answer.json()
            done = body["as_of"].get("records_behind") == 0 and body["supply"]["minted"]
            if done and (until is None or until(body)):
                return body
        time.sleep(0.2)
    raise TimeoutError("the projections never caught up")


def districts(overview: dict[str, Any]) -> set[str]:
    return {row["district"] for row in overview["shops_by_district"]}


async def test_the_dashboard_follows_the_real_read_models(
    projections: ServiceProcess, topics: dict[str, str], browser: Browser
) -> None:
    history = build(residents=30)
    await produce(topics, history.events)
    before = caught_up(projections.url)
    assert districts(before) == set(DISTRICTS)

    page, console = await open_page(browser, f"{projections.url}/dashboard")
    await page.wait_for_selector("#status[data-state='live']")
    before = await settled(page, projections.url)
    await assert_numbers_match(page, before)
    await assert_charts_drawn(page, before)
    await page.evaluate("() => { window.sameDocument = true; }")

    last = max(e.occurred_at for e in history.events)  # type: ignore[attr-defined]
    enrolled = merchant.ShopEnrolled(
        shop_id=uuid.uuid4(), payee_account_id=uuid.uuid4(), label="Shop new",
        category="grocery", district=NEW_DISTRICT, latitude=16.7, longitude=102.6,
        size_class="small", coin_value_satang=100, max_coin_share_percent=50,
        occurred_at=last + timedelta(minutes=1),
    )  # fmt: skip
    await produce(topics, [enrolled])
    caught_up(projections.url, lambda o: NEW_DISTRICT in districts(o))
    await page.wait_for_selector(f"[data-row='district:{NEW_DISTRICT}']")
    await rendered(page, 2)
    after = await settled(page, projections.url)
    await assert_numbers_match(page, after)
    await assert_charts_drawn(page, after)
    assert await page.evaluate("() => window.sameDocument") is True, "the page was reloaded"
    assert api_value(after, "supply.minted") == 1_000_000

    await screenshot(page, "dashboard-live.png")
    assert console.errors == []


async def test_a_replayed_past_city_beside_the_live_one(
    projections: ServiceProcess, topics: dict[str, str], browser: Browser
) -> None:
    """`kgo replay all --until` the end of the 1-baht campaign, then the dashboard shows that
    snapshot (the API's snapshot figures, charts drawn) and stays on it while the live city
    moves on. Screenshot: tests/artifacts/dashboard-snapshot-live.png."""
    history = build(residents=30, seed=3)
    await produce(topics, history.events)
    caught_up(projections.url)
    replay = kgo(projections.env, "replay", "all", "--until", CAMPAIGN_END.isoformat(),
                 "--name", "campaign_end")  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr
    past = httpx.get(f"{projections.url}/v1/public/overview?snapshot=campaign_end", timeout=5)
    assert past.status_code == 200, past.text
    snapshot = past.json()
    assert snapshot["as_of"]["snapshot"] == "campaign_end"
    assert datetime.fromisoformat(snapshot["as_of"]["snapshot_until"]) == CAMPAIGN_END
    assert api_value(snapshot, "supply.minted") == 1_000_000

    page, console = await open_page(
        browser, f"{projections.url}/dashboard?lang=en&snapshot=campaign_end"
    )
    assert await page.get_attribute("#status", "data-state") == "snapshot"
    await page.wait_for_selector("#snapshot-form:not([hidden])")  # the API lists its snapshots
    assert await page.eval_on_selector("#snapshot-form select", "s => s.value") == "campaign_end"
    await assert_numbers_match(page, snapshot)
    await assert_charts_drawn(page, snapshot, live=False)
    assert await page.text_content("#as-of-time") == "19 Jun 2022, 23:59:59"

    # The live city moves on (a shop in a new district); the snapshot and the page do not.
    last = max(e.occurred_at for e in history.events)  # type: ignore[attr-defined]
    enrolled = merchant.ShopEnrolled(
        shop_id=uuid.uuid4(), payee_account_id=uuid.uuid4(), label="Shop later",
        category="grocery", district=NEW_DISTRICT, latitude=16.7, longitude=102.6,
        size_class="small", coin_value_satang=100, max_coin_share_percent=50,
        occurred_at=last + timedelta(minutes=1),
    )  # fmt: skip
    await produce(topics, [enrolled])
    caught_up(projections.url, lambda o: NEW_DISTRICT in districts(o))
    again = httpx.get(f"{projections.url}/v1/public/overview?snapshot=campaign_end", timeout=5)
    assert NEW_DISTRICT not in districts(again.json())
    assert await page.evaluate("() => kgoDashboard.renders") == 1
    await assert_numbers_match(page, snapshot)

    await screenshot(page, "dashboard-snapshot-live.png")
    assert console.errors == []
