"""What one process of a service does: serve HTTP, run the background components, or both.

`kgo serve <service>` alone runs everything in one process (``all``). With
``<SERVICE>_HTTP_WORKERS=N`` it supervises N processes that all serve HTTP and take turns
at the background components (``worker``, under kgo_runtime.leadership). With
``<SERVICE>_BACKGROUND_PROCESS=true`` the relay, consumers, followers and sweepers run in a
process of their own (``background``: no API, so no API request waits behind them for the
GIL), and the N HTTP processes only serve requests (``api``): their writer decides API
commands only, and their event loop has nothing else to do.

Each process of a group exports its own registry (kgo_runtime.metrics) and serves it, with
``/healthz`` and ``/readyz``, on a port of its own (:func:`members`): the background process
on ``<SERVICE>_BACKGROUND_METRICS_PORT``, HTTP process i on ``<SERVICE>_PROCESS_METRICS_PORT``
+ 100 * i. A scrape of the shared HTTP port reaches whichever process the kernel picks, so
each process is a scrape target of its own, and ``/metrics/targets`` on any of them lists
them all (kgo_runtime.targets): what Prometheus, the simulator's barrier and `kgo status` read.

The supervising `kgo serve` tells each child its role in ``KGO_PROCESS_ROLE`` and its place
among the processes of that role in ``KGO_PROCESS_INDEX``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from kgo_runtime.settings import OPERATIONS_PORT_STEP, ServiceSettings

ROLE_ENV = "KGO_PROCESS_ROLE"
INDEX_ENV = "KGO_PROCESS_INDEX"


class Role(StrEnum):
    ALL = "all"
    WORKER = "worker"
    API = "api"
    BACKGROUND = "background"

    @property
    def serves_api(self) -> bool:
        return self is not Role.BACKGROUND

    @property
    def runs_components(self) -> bool:
        return self is not Role.API

    @property
    def leads(self) -> bool:
        """Whether the components run only while this process holds the service's lock:
        in every process of a supervised group (a background process being replaced may
        overlap its successor for a moment)."""
        return self in (Role.WORKER, Role.BACKGROUND)


def process_role() -> Role:
    """This process's role, from the environment `kgo serve` gave it (``all`` if none)."""
    value = os.environ.get(ROLE_ENV, Role.ALL.value)
    try:
        return Role(value)
    except ValueError:
        raise RuntimeError(f"{ROLE_ENV} must be one of {', '.join(Role)}, not {value!r}") from None


@dataclass(frozen=True)
class Member:
    """One process `kgo serve` runs for a service, and the port its operations answer on."""

    role: Role
    index: int  # among the processes of its role
    port: int


def members(settings: ServiceSettings) -> list[Member]:
    """The processes of the service ``settings`` describe: one alone (``all``, on the HTTP
    port), or the group `kgo serve` supervises, each on its own operations port. The one
    place the group and its ports are decided: `kgo serve` starts and binds from it, and
    ``/metrics/targets`` lists it."""
    workers = max(1, settings.http_workers)
    if not settings.background_process and workers == 1:
        return [Member(Role.ALL, 0, settings.http_port)]
    role = Role.API if settings.background_process else Role.WORKER
    step, first = OPERATIONS_PORT_STEP, settings.process_metrics_port
    group = [Member(role, i, first + step * i) for i in range(workers)]
    if settings.background_process:
        group.append(Member(Role.BACKGROUND, 0, settings.background_metrics_port))
    return group


def this_member(settings: ServiceSettings) -> Member:
    """This process among :func:`members`, from the role and index `kgo serve` gave it."""
    role, value = process_role(), os.environ.get(INDEX_ENV, "0")
    for member in members(settings):
        if member.role is role and str(member.index) == value:
            return member
    raise RuntimeError(f"no {role} process {value} among the service's processes ({INDEX_ENV})")


def operations_only_on(app: ASGIApp, port: int) -> ASGIApp:
    """``app`` as an HTTP process of a group serves it on the shared HTTP port and on its own
    ``port``, where it answers only the operations routes (kgo_runtime.http.health; 404 for
    the API): uvicorn serves both sockets from one app, told apart by the address a
    connection came in on."""
    from kgo_runtime.http import health

    operations = frozenset(getattr(route, "path", "") for route in health.routes)

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (scope.get("server") or (None, None))[1] == port
            and scope["path"] not in operations
        ):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b"Not Found"})
            return
        await app(scope, receive, send)

    return routed


def operations_app(app: FastAPI) -> FastAPI:
    """What a ``background`` process serves, on ``<SERVICE>_BACKGROUND_METRICS_PORT``:
    the operations routes (kgo_runtime.http.health) of ``app``'s runtime, and no API route
    (its writer decides no request). ``app``'s lifespan builds the runtime and runs the
    components as in any process; the relay's, consumers', followers' and sweepers' series
    live in this process's registry, so Prometheus scrapes them here, beside each HTTP
    process's own."""
    from kgo_runtime.http import NO_TELEMETRY, health

    operations = FastAPI(
        title=app.title,
        telemetry=NO_TELEMETRY,
        lifespan=lambda _: app.router.lifespan_context(app),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    operations.state = app.state  # the lifespan puts the runtime and its metrics there
    operations.include_router(health)
    return operations
