"""``GET /v1/public/stream``: the public overview as Server-Sent Events. An ``overview``
event (the same JSON as ``GET /v1/public/overview``, ``id`` = the change version) on connect
and after each change of the read models; a comment line as heartbeat while nothing
changes; the stream ends after ``stream_max_seconds`` or when the server stops, and the
browser's EventSource reconnects after ``retry`` ms."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from kgo_runtime.logging import get_logger
from kgo_runtime.problems import problem_response
from services.projections.entrypoints.dashboard.feed import (
    Changes,
    Dashboard,
    OverviewUnavailable,
)

log = get_logger(__name__)
router = APIRouter(tags=["dashboard"])
HEARTBEAT = b": heartbeat\n\n"


def sse_event(event: str, data: str, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


@router.get(
    "/v1/public/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "overview events"}},
)
async def public_stream(request: Request) -> Response:
    """The public overview, live (no token: the same figures as ``/v1/public/overview``)."""
    changes: Changes | None = getattr(request.app.state, "changes", None)
    if changes is None:
        return problem_response(
            503, "unavailable", "The read models are still starting.", headers={"Retry-After": "2"}
        )
    dashboard = Dashboard.of(request.app)
    return StreamingResponse(
        overview_events(dashboard, changes),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def overview_events(dashboard: Dashboard, changes: Changes) -> AsyncIterator[bytes]:
    settings, stopping = dashboard.settings, dashboard.shutdown.stopping
    yield f"retry: {settings.retry_ms}\n\n".encode()
    deadline = time.monotonic() + settings.stream_max_seconds
    sent: int | None = None
    seen = changes.version
    stop = asyncio.ensure_future(stopping.wait())
    try:
        while not stopping.is_set() and time.monotonic() < deadline:
            if sent != seen:
                try:
                    yield sse_event("overview", await dashboard.feed.at(seen), seen)
                    sent = seen
                except OverviewUnavailable as e:
                    log.warning("overview unavailable for the stream", error=str(e))
            # Not sent yet (the read models are starting): ask again soon.
            idle = (
                settings.heartbeat_seconds if sent == seen else min(1.0, settings.heartbeat_seconds)
            )
            timeout = min(idle, max(deadline - time.monotonic(), 0))
            wait = asyncio.ensure_future(changes.wait(seen, timeout))
            await asyncio.wait({wait, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not wait.done():
                wait.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await wait
                break
            seen = wait.result()
            if seen == sent:
                yield HEARTBEAT
    finally:
        stop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stop
