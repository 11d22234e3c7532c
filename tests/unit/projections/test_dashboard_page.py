"""The dashboard page and its files, on an in-memory app: Thai by default, English on
request, a language switch, every asset from the service itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from services.projections.bootstrap import create_app
from tests.unit.projections.dashboard_fakes import fake_projections_app

pytestmark = pytest.mark.unit


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake_projections_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_thai_by_default_with_a_switch_to_english(http: httpx.AsyncClient) -> None:
    for path in ("/", "/dashboard", "/dashboard?lang=xx"):
        page = await http.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="th">' in page.text
        assert "แดชบอร์ดเหรียญเมืองขอนแก่น" in page.text
        assert 'href="/dashboard?lang=en"' in page.text


async def test_english_on_request_keeps_the_snapshot_in_the_switch(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/dashboard", params={"lang": "en", "snapshot": "campaign_end"})
    assert '<html lang="en">' in page.text
    assert "Khon Kaen city coin dashboard" in page.text
    assert 'data-snapshot="campaign_end"' in page.text
    assert 'href="/dashboard?lang=th&amp;snapshot=campaign_end"' in page.text
    assert 'href="/dashboard?lang=en"' in page.text  # back to live


async def test_a_bad_snapshot_date_is_refused(http: httpx.AsyncClient) -> None:
    for bad in ("../live", "a b", "x" * 65):
        answer = await http.get("/dashboard", params={"snapshot": bad})
        assert answer.status_code == 422, bad


async def test_every_asset_is_served_by_the_service(http: httpx.AsyncClient) -> None:
    page = await http.get("/dashboard")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert not [a for a in assets if "//" in a], "no other origin"
    for asset in (a for a in assets if a.startswith("/dashboard/static/")):
        answer = await http.get(asset)
        assert answer.status_code == 200, asset
    css = (await http.get("/dashboard/static/dashboard.css")).text
    for font in re.findall(r"url\(([^)]+)\)", css):
        answer = await http.get(f"/dashboard/static/{font}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "font/woff2"
    script = await http.get("/dashboard/static/vendor/uPlot.iife.min.js")
    assert script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path", ["README.md", "../page.py", "..%2Fpage.py", "vendor/../../page.py", "nothing.js"]
)
async def test_nothing_but_the_shipped_files(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(f"/dashboard/static/{path}")).status_code == 404


async def test_the_service_registers_the_dashboard() -> None:
    transport = httpx.ASGITransport(app=create_app())  # no lifespan: nothing connects
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/dashboard/static/dashboard.js")).status_code == 200
        missing = await client.get("/dashboard/static/nothing.js")
        assert missing.headers["content-type"] == "application/problem+json"
        assert "/v1/public/stream" in (await client.get("/openapi.json")).json()["paths"]


async def test_the_fake_names_and_refuses_snapshots_as_the_real_api_does() -> None:
    """The browser test's fake serves snapshots under ``kgo replay --name`` names (the real
    ``SNAPSHOT_NAME``), with ``snapshot_until``, and an unknown one as the real 404."""
    from services.projections.entrypoints.http.context import SNAPSHOT_NAME
    from tests.unit.projections.dashboard_fakes import CAMPAIGN_END, FakeOverview, sample_overview

    fake = FakeOverview()
    past = sample_overview()
    past["as_of"] |= {"snapshot": CAMPAIGN_END, "snapshot_until": "2026-11-15T23:59:59+07:00"}
    fake.snapshots[CAMPAIGN_END] = past
    transport = httpx.ASGITransport(app=fake_projections_app(fake))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        listed = (await client.get("/v1/public/snapshots")).json()["snapshots"]
        assert listed == [CAMPAIGN_END] and all(SNAPSHOT_NAME.match(n) for n in listed)
        answer = await client.get("/v1/public/overview", params={"snapshot": CAMPAIGN_END})
        assert answer.json()["as_of"]["snapshot"] == CAMPAIGN_END
        for unknown in ("2026_11_14_2359", "2026-11-15"):
            missing = await client.get("/v1/public/overview", params={"snapshot": unknown})
            assert missing.status_code == 404
            assert missing.json()["code"] == "snapshot_unknown"
