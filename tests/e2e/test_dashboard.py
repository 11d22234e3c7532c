"""The city's dashboard in a real headless browser (Debian's Chromium, driven by
playwright): the page loads without a console error, its charts draw the API's figures,
every number shown equals the API's, and a change reaches the open page without a reload.
Screenshots are kept in tests/artifacts/.

Here the server is the dashboard on the in-memory fake of the projections' read models (a
uvicorn process of ``tests.unit.projections.dashboard_fakes``, the contract's JSON): it
covers what real data rarely shows on demand (a suppressed count, a snapshot, SIGTERM with
a stream open). ``test_dashboard_live.py`` drives the real ``kgo serve projections``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from kgo_runtime.settings import PROJECT_ROOT
from tests.unit.projections.dashboard_fakes import CAMPAIGN_END

from .conftest import free_port
from .dashboard_page import (
    api_value,
    assert_charts_drawn,
    assert_numbers_match,
    browser,
    open_page,
    rendered,
    screenshot,
)

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture


@dataclass
class City:
    """The projections service with the dashboard, and a way to change its figures."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def overview(self, snapshot: str | None = None) -> dict[str, Any]:
        params = {"snapshot": snapshot} if snapshot else {}
        answer = httpx.get(f"{self.url}/v1/public/overview", params=params, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def spend(self, coins: int) -> None:
        """A resident spends at a shop (in the fake: the read models change and signal)."""
        httpx.post(f"{self.url}/_fake/spend", params={"coins": coins}, timeout=5)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_city(logs: Path) -> City:
    port = free_port()
    log = logs / f"projections-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.projections.dashboard_fakes", str(port)],
            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    city = City(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{city.url}/dashboard", timeout=2).status_code == 200:
                return city
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """One service for the browser tests (each reads the figures it compares)."""
    city = start_city(tmp_path_factory.mktemp("dashboard"))
    yield city
    city.stop()


@pytest.fixture
def own_city(tmp_path: Path) -> Iterator[City]:
    city = start_city(tmp_path)
    yield city
    city.stop()


async def test_the_live_dashboard_shows_the_apis_numbers_and_follows_changes(
    city: City, browser: Browser
) -> None:
    page, console = await open_page(browser, f"{city.url}/dashboard")
    assert await page.get_attribute("html", "lang") == "th"
    await page.wait_for_selector("#status[data-state='live']")
    before = city.overview()
    await assert_numbers_match(page, before)
    await assert_charts_drawn(page, before)

    await page.evaluate("() => { window.sameDocument = true; }")
    city.spend(40)
    await rendered(page, 2)
    after = city.overview()
    spent = "week.spent this_week.spent"
    assert api_value(after, spent) == api_value(before, spent) + 40
    await assert_numbers_match(page, after)
    await assert_charts_drawn(page, after)
    assert await page.evaluate("() => window.sameDocument") is True, "the page was reloaded"
    assert await page.evaluate("() => kgoDashboard.charts.timeline.plot.data[0].length") == 2

    # the signed daily digests the API lists, newest first
    await page.wait_for_selector("#digests tr[data-digest='2022-06-10']")
    await screenshot(page, "dashboard-th.png")
    assert console.errors == []


async def test_english_with_a_language_switch(city: City, browser: Browser) -> None:
    page, console = await open_page(browser, f"{city.url}/dashboard")
    await page.click("#lang-switch")
    await page.wait_for_url("**/dashboard?lang=en")
    await rendered(page, 1)
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.text_content("h1") == "Khon Kaen city coin dashboard"
    await assert_numbers_match(page, city.overview())
    await assert_charts_drawn(page, city.overview())
    await screenshot(page, "dashboard-en.png")
    assert console.errors == []


async def test_a_past_snapshot_by_its_name(city: City, browser: Browser) -> None:
    """A snapshot is named as ``kgo replay all --until ... --name campaign_end`` names it;
    the page shows its ``snapshot_until``."""
    page, console = await open_page(
        browser, f"{city.url}/dashboard?lang=en&snapshot={CAMPAIGN_END}"
    )
    assert await page.get_attribute("#status", "data-state") == "snapshot"
    await page.wait_for_selector("#snapshot-form:not([hidden])")  # the API lists its snapshots
    assert await page.eval_on_selector("#snapshot-form select", "s => s.value") == CAMPAIGN_END
    snapshot = city.overview(CAMPAIGN_END)
    assert snapshot["as_of"]["snapshot"] == CAMPAIGN_END
    await assert_numbers_match(page, snapshot)
    city.spend(10)  # the live figures move; the snapshot does not
    await page.wait_for_timeout(500)
    assert await page.evaluate("() => kgoDashboard.renders") == 1
    assert await page.text_content("#as-of-time") == "15 Nov 2026, 23:59:59"
    assert console.errors == []

    missing = await browser.new_page()
    await missing.goto(f"{city.url}/dashboard?lang=en&snapshot=2020_01_01_0000")
    await missing.wait_for_selector("#error:not([hidden])")
    assert "No snapshot for this date" in (await missing.text_content("#error") or "")


def test_open_streams_end_when_the_service_stops(own_city: City) -> None:
    city = own_city
    with httpx.stream("GET", f"{city.url}/v1/public/stream", timeout=10) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        started = time.monotonic()
        city.process.send_signal(signal.SIGTERM)
        rest = list(lines)  # ends when the server closes the stream
    assert "event: overview" in rest
    assert city.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5, "shutdown waited for the open stream"
