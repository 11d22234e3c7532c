"""The SSE route on an in-memory app: the first event is the overview the API answers, each
change sends the new one, idle streams get heartbeats, and streams end on shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.projections.entrypoints.dashboard.feed import (
    Dashboard,
    OverviewFeed,
    OverviewUnavailable,
    ShutdownWatch,
)
from services.projections.entrypoints.dashboard.settings import DashboardSettings
from tests.unit.projections.dashboard_fakes import FakeOverview, fake_projections_app

pytestmark = pytest.mark.unit


class Stream:
    """One GET of the stream driven over raw ASGI (httpx's ASGI transport buffers whole
    bodies, so it cannot read an endless one)."""

    def __init__(self, app: FastAPI, path: str = "/v1/public/stream") -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.buffer = b""
        self.ended = False
        self._requested = False
        self._gone = asyncio.Event()
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
            "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"test")], "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }  # fmt: skip
        self.task = asyncio.create_task(app(scope, self._receive, self.messages.put))

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def start(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), 2)

    async def block(self) -> str:
        """The next blank-line-terminated block of the body."""
        while b"\n\n" not in self.buffer:
            message = await asyncio.wait_for(self.messages.get(), 2)
            self.buffer += message.get("body", b"")
            if not message.get("more_body", False):
                self.ended = True
                if b"\n\n" not in self.buffer:
                    raise EOFError(self.buffer)
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        return block.decode()

    async def event(self) -> tuple[str, dict[str, str]]:
        """The next event (skipping comments and the retry hint): its name and fields."""
        while True:
            fields: dict[str, str] = {}
            for line in (await self.block()).splitlines():
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(": ")
                fields[key] = fields[key] + "\n" + value if key in fields else value
            if "event" in fields:
                return fields["event"], fields

    async def close(self) -> None:
        self._gone.set()
        await asyncio.wait_for(self.task, 2)


def app_with(**settings: Any) -> tuple[FastAPI, FakeOverview]:
    fake = FakeOverview()
    app = fake_projections_app(fake)
    app.state.dashboard = Dashboard(
        DashboardSettings(**settings), OverviewFeed(app), ShutdownWatch()
    )
    return app, fake


async def api_overview(app: FastAPI) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/v1/public/overview")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


async def test_the_first_event_is_the_overview_the_api_answers() -> None:
    app, _ = app_with()
    stream = Stream(app)
    start = await stream.start()
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache"
    assert (await stream.block()) == "retry: 2000"
    name, fields = await stream.event()
    assert name == "overview"
    assert fields["id"] == "0"
    assert json.loads(fields["data"]) == await api_overview(app)
    await stream.close()


async def test_each_change_sends_the_new_overview() -> None:
    app, fake = app_with()
    stream = Stream(app)
    await stream.start()
    _, first = await stream.event()
    await fake.spend(40)
    _, second = await stream.event()
    assert second["id"] == "1"
    before, after = json.loads(first["data"]), json.loads(second["data"])
    assert after["week"]["spent"] == before["week"]["spent"] + 40
    assert after == await api_overview(app)
    await stream.close()


async def test_an_idle_stream_gets_heartbeats_and_no_repeated_event() -> None:
    app, _ = app_with(heartbeat_seconds=0.05)
    stream = Stream(app)
    await stream.start()
    await stream.event()
    assert [await stream.block() for _ in range(3)] == [": heartbeat"] * 3
    await stream.close()


async def test_streams_end_cleanly_when_the_server_stops() -> None:
    app, _ = app_with()
    streams = [Stream(app) for _ in range(3)]
    for stream in streams:
        await stream.start()
        await stream.event()
    app.state.dashboard.shutdown.stopping.set()
    for stream in streams:
        await asyncio.wait_for(stream.task, 2)  # the response finished by itself
        last = await stream.messages.get()
        assert last["more_body"] is False


async def test_a_stream_ends_after_its_lifetime_and_the_browser_reconnects() -> None:
    app, _ = app_with(stream_max_seconds=0.2, retry_ms=500, heartbeat_seconds=0.05)
    stream = Stream(app)
    await stream.start()
    assert (await stream.block()) == "retry: 500"
    await stream.event()
    await asyncio.wait_for(stream.task, 2)


async def test_one_fetch_per_change_however_many_streams() -> None:
    app, fake = app_with()
    fetches = 0
    feed = app.state.dashboard.feed
    fetch = feed._fetch

    async def counting() -> str:
        nonlocal fetches
        fetches += 1
        return await fetch()

    feed._fetch = counting
    streams = [Stream(app) for _ in range(4)]
    for stream in streams:
        await stream.start()
        await stream.event()
    await fake.spend(5)
    for stream in streams:
        await stream.event()
    assert fetches == 2
    for stream in streams:
        await stream.close()


async def test_no_change_signal_yet_answers_503() -> None:
    app, _ = app_with()
    del app.state.changes
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/v1/public/stream")
    assert answer.status_code == 503
    assert answer.json()["code"] == "unavailable"


async def test_the_stream_waits_for_the_overview_while_the_read_models_start() -> None:
    app, _ = app_with(heartbeat_seconds=0.05)
    feed = app.state.dashboard.feed
    fetch, answers = feed._fetch, 0

    async def starting() -> str:
        nonlocal answers
        answers += 1
        if answers < 3:
            raise OverviewUnavailable("503")
        return await fetch()

    feed._fetch = starting
    stream = Stream(app)
    await stream.start()
    name, fields = await stream.event()
    assert name == "overview"
    assert json.loads(fields["data"]) == await api_overview(app)
    await stream.close()
