"""The HTTP side every service shares: ``/healthz``, ``/readyz``, ``/metrics`` (and
``/metrics/targets``, where each process of the service exports its own), the
correlation-id middleware with request and command metrics, and ``provided()`` for routes
that need something the bootstrap built.

The middleware labels by the matched route's template (``/v1/wallets/{wallet_id}``), never
the raw path, and leaves unmatched paths out, so neither an id nor a scanner can grow the
series. A write (``POST``, ``PUT``, ``PATCH``, ``DELETE``) is a command: it is counted by
outcome and by the ``code`` of the problem it was answered with, read from the
``application/problem+json`` body (small, and only problems are read).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kgo_runtime.logging import CORRELATION_HEADER, correlation
from kgo_runtime.metrics import METRICS_CONTENT_TYPE, Metrics
from kgo_runtime.problems import PROBLEM_JSON, REPLAYED_HEADER
from kgo_runtime.settings import ServiceSettings
from kgo_runtime.targets import TARGETS_PATH, document

_HEADER_KEY = CORRELATION_HEADER.lower().encode()
_REPLAYED_KEY = REPLAYED_HEADER.lower().encode()
_COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROBLEM_BODY_LIMIT = 16 * 1024

health = APIRouter(tags=["operations"])


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and its event loop answers."""
    return {"status": "ok"}


@health.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when Kafka and Postgres answer and the service's components are built; 503 with
    the failing checks otherwise."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
    checks: dict[str, str] = await runtime.readiness()
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@health.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: Metrics | None = getattr(request.app.state, "metrics", None)
    if registry is None:
        raise HTTPException(503, "metrics not initialised yet")
    return Response(registry.render(), media_type=METRICS_CONTENT_TYPE)


@health.get(TARGETS_PATH)
async def metrics_targets(request: Request) -> JSONResponse:
    """Where each process of this service serves its own ``/metrics`` (kgo_runtime.targets),
    as Prometheus's HTTP service discovery reads it."""
    settings: ServiceSettings | None = getattr(request.app.state, "settings", None)
    if settings is None:
        raise HTTPException(503, "settings not loaded yet")
    return JSONResponse(document(settings, request.url.hostname or "127.0.0.1"))


def flat_router(*routers: APIRouter) -> APIRouter:
    """One router holding the routes of ``routers`` themselves, in their order, instead of a
    router that includes them: FastAPI (0.16x) matches a request against an included router by
    walking its routes again at every level of inclusion, on every request, so routers
    included in routers multiply the cost of finding a route. Each router's own prefix, tags
    and responses are already on its routes; a router that itself includes routers is
    refused (include its parts instead)."""
    flat = APIRouter()
    for router in routers:
        if any(_includes(route) for route in router.routes):
            raise ValueError("flat_router takes routers of routes, not of included routers")
        flat.routes.extend(router.routes)
    return flat


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, with the routes put on the app's own router when
    ``router`` holds only routes: one level of matching less for every request (see
    :func:`flat_router`)."""
    if any(_includes(route) for route in router.routes):
        app.include_router(router)
    else:
        app.router.routes.extend(router.routes)


def _includes(route: Any) -> bool:
    """Whether ``route`` is a router included in another (FastAPI keeps it as one entry)."""
    return hasattr(route, "original_router")


def index_literal_paths(app: FastAPI) -> None:
    """Put a :class:`LiteralPaths` index first on the app's router."""
    if not any(isinstance(route, LiteralPaths) for route in app.router.routes):
        app.router.routes.insert(0, LiteralPaths(app.router.routes))


class LiteralPaths(BaseRoute):
    """Finds the route of a request for a path without parameters (``/v1/spends``) in a dict,
    instead of trying every route before it in turn: a router matches a request against its
    routes one by one, a regular expression each, on every request.

    It answers only what the walk would: a path is indexed only if no route before its own
    matches it with the same method, only full matches (path and method) are taken from it,
    and anything else (an unknown path, a method not allowed, paths with parameters) is left
    to the walk that follows. Not an ``APIRoute``: the OpenAPI document does not list it."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes
        self._index: dict[str, list[APIRoute]] = {}
        self._indexed = -1  # how many routes the index was built from

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        if self._indexed != len(self._routes):
            self._build()
        for route in self._index.get(get_route_path(scope), ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, child_scope
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["route"].handle(scope, receive, send)  # set by the APIRoute that matched

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    def _build(self) -> None:
        routes = [route for route in self._routes if route is not self]
        index: dict[str, list[APIRoute]] = {}
        for position, route in enumerate(routes):
            if not isinstance(route, APIRoute) or "{" in route.path or not route.methods:
                continue
            probes = [
                {"type": "http", "path": route.path, "root_path": "", "method": method,
                 "path_params": {}}
                for method in route.methods
            ]  # fmt: skip
            if not any(
                _full_match(earlier, probe) for earlier in routes[:position] for probe in probes
            ):
                index.setdefault(route.path, []).append(route)
        self._index, self._indexed = index, len(self._routes)


def _full_match(route: BaseRoute, scope: Scope) -> bool:
    """Whether ``route`` takes a request (a route that cannot tell is taken to)."""
    try:
        return route.matches(scope)[0] is Match.FULL
    except Exception:
        return True


#: FastAPI's native OpenTelemetry off (``FastAPI(telemetry=NO_TELEMETRY)``): the platform's
#: telemetry is Prometheus (kgo_runtime.metrics) and its logs; left on, FastAPI asks the
#: global OpenTelemetry providers (environment lookups) on every request to learn that none
#: is configured, ~5% of a wallet spend's event-loop time (py-spy, BENCHMARKS.md).
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def install_middleware(app: FastAPI) -> None:
    """Correlation id (``X-Correlation-ID`` in, or a new one; echoed back) and request metrics."""
    app.add_middleware(CorrelationMiddleware)


class CorrelationMiddleware:
    """Plain ASGI (no per-request task as with ``BaseHTTPMiddleware``): the correlation id is
    set for the whole request, including the route and everything it logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(_HEADER_KEY)
        answer = _Answer()
        started = time.perf_counter()
        with correlation(given.decode("latin-1") if given else None) as cid:
            echoed = (_HEADER_KEY, cid.encode("latin-1"))

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    answer.started(message)
                    message = {**message, "headers": [*message.get("headers", ()), echoed]}
                elif message["type"] == "http.response.body":
                    answer.body(message)
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                answer.crashed()  # answered outside, by the catch-all problem handler
                raise
            finally:
                _observe(scope, answer, time.perf_counter() - started)


class _Answer:
    """What the middleware keeps of a response: its status, whether it replays a first
    answer, and a problem's ``code``."""

    def __init__(self) -> None:
        self.status = 500
        self.replayed = False
        self._problem: bytearray | None = None
        self._code: str | None = None

    def started(self, message: Message) -> None:
        self.status = message["status"]
        for key, value in message.get("headers", ()):
            key = key.lower()
            if key == b"content-type" and value.startswith(PROBLEM_JSON.encode()):
                self._problem = bytearray()
            elif key == _REPLAYED_KEY:
                self.replayed = value.lower() == b"true"

    def crashed(self) -> None:
        self.status, self._code = 500, "internal_error"

    def body(self, message: Message) -> None:
        if self._problem is not None and len(self._problem) < _PROBLEM_BODY_LIMIT:
            self._problem += message.get("body", b"")

    @property
    def code(self) -> str | None:
        if not self._problem:
            return self._code
        try:
            code = json.loads(self._problem).get("code")
        except (ValueError, AttributeError):
            return None
        return code if isinstance(code, str) and code.isidentifier() else None


def _observe(scope: Scope, answer: _Answer, seconds: float) -> None:
    registry: Metrics | None = getattr(scope["app"].state, "metrics", None)
    route = scope.get("route")
    if registry is None or route is None:
        return  # unmatched paths are not labelled, so scanners cannot blow up the series
    path = getattr(route, "path", "unmatched")
    method = scope["method"]
    requests, duration = registry.http_series(method, path, answer.status)
    requests.inc()
    duration.observe(seconds)
    if method in _COMMAND_METHODS:
        registry.command_answered(
            f"{method} {path}", answer.status, answer.code, answer.replayed, seconds
        )


def device_seen(request: Request, kind: str, device: str) -> None:
    """Mark a fleet device (``validator``, ``till``) as alive now, on the service's metrics;
    a route's dependency calls it once the device's own credential is checked."""
    registry: Metrics | None = getattr(request.app.state, "metrics", None)
    if registry is not None:
        registry.device_seen(kind, device)


def provided(name: str) -> Callable[[Request], Any]:
    """A FastAPI dependency returning ``app.state.<name>`` set by the bootstrap's build, or
    503 while the service is still connecting to its infrastructure."""

    def dependency(request: Request) -> Any:
        value = getattr(request.app.state, name, None)
        if value is None:
            raise HTTPException(503, f"{name} is not ready yet")
        return value

    return dependency
