"""The city's dashboard in a real headless browser (Debian's Chromium, driven by
playwright): the page loads without a console error, its charts draw the API's figures,
every number shown equals the API's, and a change reaches the open page without a reload.
Screenshots are kept in tests/artifacts/.

The server is the dashboard on the in-memory fake of the projections' read models (a
uvicorn process of ``tests.unit.projections.dashboard_fakes``) until the real read models
are on main; then ``City`` becomes a ``kgo serve projections`` fed events over Kafka."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from kgo_cli.infra.prereqs import ensure_chromium
from kgo_runtime.settings import PROJECT_ROOT

from .conftest import free_port

pytestmark = pytest.mark.e2e
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
CHARTS = ("supply", "week", "districts", "timeline")
SUPPLY_CHART = ("supply.municipality", "supply.budgets_total", "supply.residents",
                "supply.shops", "supply.operator supply.bus_operator", "supply.held")  # fmt: skip
WEEK_CHART = ("week.granted this_week.granted", "week.spent this_week.spent")


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


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    chromium = ensure_chromium()  # apt-get install chromium when missing (as root)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


class Console:
    """Everything the page logged as an error, and every uncaught exception."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self.errors.append(f"{message.type}: {message.text}")


async def open_page(browser: Browser, url: str) -> tuple[Page, Console]:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    await page.goto(url)
    await rendered(page, 1)
    return page, console


async def rendered(page: Page, times: int) -> None:
    await page.wait_for_function(
        "n => window.kgoDashboard && window.kgoDashboard.renders >= n", arg=times, timeout=10_000
    )


def api_field(overview: dict[str, Any], paths: str) -> tuple[bool, Any]:
    """As the page reads a field: the first of the space-separated paths the JSON has."""
    if paths == "supply.budgets_total":
        return True, sum(coins for _, coins in budgets(overview))
    for path in paths.split():
        value: Any = overview
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                break
            value = value[key]
        else:
            return True, value
    return False, None


def api_value(overview: dict[str, Any], paths: str) -> Any:
    return api_field(overview, paths)[1]


def budgets(overview: dict[str, Any]) -> list[tuple[str, int]]:
    given = overview["supply"]["budgets"]
    if isinstance(given, list):
        return [(b["programme"], b["coins"]) for b in given]
    return list(given.items())


def shown_as(value: Any, form: str) -> str:
    """How the page writes ``value`` (Thai and English use the same digits and commas)."""
    if value is None:
        return "—"
    if form == "percent":
        return f"{value * 100:.1f}".removesuffix(".0") + "%"
    if form == "ratio":
        return f"{value:.2f}"
    return f"{value:,}"


async def numbers_on(page: Page) -> list[dict[str, str]]:
    return await page.eval_on_selector_all(  # type: ignore[no-any-return]
        "[data-field], [data-row]",
        """els => els.map(el => ({field: el.dataset.field || '', row: el.dataset.row || '',
            value: el.dataset.value, text: el.textContent.trim(),
            form: el.dataset.format || 'int'}))""",
    )


async def assert_numbers_match(page: Page, overview: dict[str, Any]) -> None:
    shown = await numbers_on(page)
    rows = {
        **{f"budget:{name}": coins for name, coins in budgets(overview)},
        **{f"district:{d['district']}": d["shops"] for d in overview["shops_by_district"]},
    }
    assert {n["row"] for n in shown if n["row"]} == set(rows)
    k = overview.get("suppress_below", 10)
    for number in shown:
        where = number["field"] or number["row"]
        if number["row"]:
            found, expected = True, rows[number["row"]]
        else:
            found, expected = api_field(overview, number["field"])
        if not found:
            assert number["value"] == "absent", where
            continue
        assert number["value"] == _json(expected), where
        if expected is None and number["text"] == f"< {k}":
            continue  # suppressed: fewer than k residents
        assert number["text"] == shown_as(expected, number["form"]), where


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def assert_charts_drawn(page: Page, overview: dict[str, Any]) -> None:
    drawn = await page.evaluate(
        """ids => Object.fromEntries(ids.map(id => {
            const canvas = document.querySelector(`#chart-${id} canvas`);
            if (!canvas) return [id, 0];
            const {width, height} = canvas;
            const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
            let inked = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
            return [id, inked];
        }))""",
        list(CHARTS),
    )
    assert all(inked > 500 for inked in drawn.values()), drawn
    data = await page.evaluate(
        "() => Object.fromEntries(Object.entries(kgoDashboard.charts)"
        ".map(([id, c]) => [id, c.plot.data.map(s => Array.from(s))]))"
    )
    supply = [api_value(overview, f) or 0 for f in SUPPLY_CHART]
    assert data["supply"][1] == supply
    week = [api_value(overview, f) or 0 for f in WEEK_CHART]
    assert data["week"][1] == week
    assert data["districts"][1] == [d["shops"] for d in overview["shops_by_district"]]
    assert data["timeline"][2][-1] == week[1]
    gauges = await page.eval_on_selector_all(
        "[data-gauge]",
        "els => els.map(el => [el.dataset.gauge,"
        " el.querySelector('.value').getAttribute('stroke-dasharray')])",
    )
    for gauge, dasharray in gauges:
        share = api_value(overview, gauge)
        assert float(dasharray.split()[0]) == pytest.approx((share or 0) * 100), gauge


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

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "dashboard-th.png", full_page=True)
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "dashboard-en.png", full_page=True)
    assert console.errors == []


async def test_a_past_snapshot_as_of_a_date(city: City, browser: Browser) -> None:
    page, console = await open_page(browser, f"{city.url}/dashboard?lang=en&snapshot=2026-11-15")
    assert await page.get_attribute("#status", "data-state") == "snapshot"
    await page.wait_for_selector("#snapshot-form:not([hidden])")  # the API lists its snapshots
    assert await page.eval_on_selector("#snapshot-form select", "s => s.value") == "2026-11-15"
    snapshot = city.overview("2026-11-15")
    await assert_numbers_match(page, snapshot)
    city.spend(10)  # the live figures move; the snapshot does not
    await page.wait_for_timeout(500)
    assert await page.evaluate("() => kgoDashboard.renders") == 1
    assert await page.text_content("#as-of-time") == "15 Nov 2026, 23:59:59"
    assert console.errors == []

    missing = await browser.new_page()
    await missing.goto(f"{city.url}/dashboard?lang=en&snapshot=2020-01-01")
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
