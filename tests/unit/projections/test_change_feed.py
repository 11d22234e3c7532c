"""The change feed the dashboard waits on."""

from __future__ import annotations

import asyncio

import pytest

from services.projections.entrypoints.changes import ChangeFeed

pytestmark = pytest.mark.unit


async def test_wait_returns_once_a_batch_committed_or_after_the_timeout() -> None:
    feed = ChangeFeed()
    assert await feed.wait(0, timeout=0.01) == 0
    waiting = asyncio.create_task(feed.wait(0, timeout=5))
    await asyncio.sleep(0)
    feed.committed()
    assert await asyncio.wait_for(waiting, 1) == 1
    assert await feed.wait(0, timeout=5) == 1  # already past: at once
