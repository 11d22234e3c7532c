"""The city's live dashboard, served by the projections service: the page (``/`` and
``/dashboard``), its own static files (``/dashboard/static/...``; no CDN) and the
Server-Sent Events stream of the public overview (``/v1/public/stream``).

It reads nothing but the public overview (``GET /v1/public/overview``) and the service's
change signal (``app.state.changes``); see README.md in this folder."""

from __future__ import annotations

from fastapi import APIRouter

from services.projections.entrypoints.dashboard import page, stream

router = APIRouter()
router.include_router(page.router)
router.include_router(stream.router)

__all__ = ["router"]
