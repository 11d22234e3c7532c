"""The dashboard page (``/`` and ``/dashboard``, ``?lang=th|en``, ``?snapshot=<name>`` of a
replayed past city) and its static files. Every asset comes from this folder; the
Content-Security-Policy forbids any other origin, so a stray CDN link fails loudly in the
browser test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kgo_runtime.problems import problem_response
from services.projections.entrypoints.dashboard.labels import LABELS, Lang, language

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_FILES = {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SNAPSHOT = r"^[A-Za-z0-9_.-]{0,64}$"  # empty: live
#: Each gauge and the overview's field it shows; "a b" = the first of a, b the API has.
GAUGES = (
    ("gini_holdings", "fairness.gini_holdings"),
    ("gini_received", "fairness.gini_received"),
    ("reach_received", "fairness.reach_received"),
    ("reach_spent", "fairness.reach_spent"),
    ("small_shop_share", "fairness.small_shop_share"),
    ("top10_share", "fairness.top10_share fairness.top10_shop_share"),
)
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".woff2": "font/woff2"}
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    lang: Annotated[str | None, Query(description="th (default) or en")] = None,
    snapshot: Annotated[
        str | None, Query(pattern=SNAPSHOT, description="a past snapshot the API offers")
    ] = None,
) -> HTMLResponse:
    """The city's numbers at a glance, live; or a past snapshot with ``?snapshot=``."""
    chosen = language(lang)
    html = templates.get_template("dashboard.html").render(
        lang=chosen,
        t=LABELS[chosen],
        labels_json=json.dumps(LABELS[chosen], ensure_ascii=False),
        snapshot=snapshot or "",
        gauges=GAUGES,
        switch_href=_href("en" if chosen == "th" else "th", snapshot),
        live_href=_href(chosen, None),
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP})


def _href(lang: Lang, snapshot: str | None) -> str:
    query = {"lang": lang} | ({"snapshot": snapshot} if snapshot else {})
    return f"/dashboard?{urlencode(query)}"


@router.get("/dashboard/static/{name:path}", include_in_schema=False)
async def dashboard_static(name: str) -> Response:
    """Only the files shipped in ``static/`` (a fixed list: no path is ever joined)."""
    path = STATIC_FILES.get(name)
    if path is None or path.suffix == ".md":
        return problem_response(404, "not_found", f"No dashboard file {name!r}.")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
