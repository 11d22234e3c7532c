"""What the dashboard's browser tests share: Debian's Chromium driven by playwright, a
console that records every error, and the checks that the page shows the API's numbers and
draws its charts. Screenshots go to tests/artifacts/ (gitignored)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from kgo_cli.infra.prereqs import ensure_chromium
from kgo_runtime.settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
CHARTS = ("supply", "week", "districts", "timeline")
SUPPLY_CHART = ("supply.municipality", "supply.budgets_total", "supply.residents",
                "supply.shops", "supply.operator supply.bus_operator", "supply.held")  # fmt: skip
WEEK_CHART = ("week.granted this_week.granted", "week.spent this_week.spent")
SPENT = "week.spent this_week.spent"


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
        shown_value = json.loads(number["value"])
        assert shown_value == expected, f"{where}: {number} shown, {expected!r} in the API"
        if expected is None and number["text"] == f"< {k}":
            continue  # suppressed: fewer than k residents
        assert number["text"] == shown_as(expected, number["form"]), where


async def assert_charts_drawn(page: Page, overview: dict[str, Any], *, live: bool = True) -> None:
    """The charts draw the overview's figures; the timeline (the live figures as they came)
    only on a live page, not on a snapshot."""
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
        [c for c in CHARTS if live or c != "timeline"],
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
    if live:
        assert data["timeline"][2][-1] == week[1]
    gauges = await page.eval_on_selector_all(
        "[data-gauge]",
        "els => els.map(el => [el.dataset.gauge,"
        " el.querySelector('.value').getAttribute('stroke-dasharray')])",
    )
    for gauge, dasharray in gauges:
        share = api_value(overview, gauge)
        assert float(dasharray.split()[0]) == pytest.approx((share or 0) * 100), gauge


async def settled(page: Page, url: str, timeout: float = 20) -> dict[str, Any]:
    """The API's overview once the page shows the same one (``as_of`` aside: its lag moves
    with the clock); the read models may still be folding a batch when the page loads."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            answer = (await http.get("/v1/public/overview")).json()
            shown = await page.evaluate("() => kgoDashboard.last")
            if _figures(answer) == _figures(shown):
                return answer  # type: ignore[no-any-return]
            assert asyncio.get_running_loop().time() < deadline, "the page never showed the API's"
            await asyncio.sleep(0.2)


def _figures(overview: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (overview or {}).items() if k != "as_of"}


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / name, full_page=True)
    print(f"screenshot: {ARTIFACTS / name}")
