"""What one process of a service does: serve HTTP, run the background components, or both.

`kgo serve <service>` alone runs everything in one process (``all``). With
``<SERVICE>_HTTP_WORKERS=N`` it supervises N processes that all serve HTTP and take turns
at the background components (``worker``, under kgo_runtime.leadership). With
``<SERVICE>_BACKGROUND_PROCESS=true`` the relay, consumers, followers and sweepers run in a
process of their own (``background``: no API, so no API request waits behind them for the
GIL), and the N HTTP processes only serve requests (``api``): their writer decides API
commands only, and their event loop has nothing else to do.

Each process exports its own registry (kgo_runtime.metrics), as with N workers: the
background process serves its ``/metrics`` (and ``/healthz``, ``/readyz``) on a port of its
own, ``<SERVICE>_BACKGROUND_METRICS_PORT``, a second scrape target of the service.

The supervising `kgo serve` tells each child its role in ``KGO_PROCESS_ROLE``.
"""

from __future__ import annotations

import os
from enum import StrEnum

from fastapi import FastAPI

ROLE_ENV = "KGO_PROCESS_ROLE"


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


def operations_app(app: FastAPI) -> FastAPI:
    """What a ``background`` process serves, on ``<SERVICE>_BACKGROUND_METRICS_PORT``:
    ``/healthz``, ``/readyz`` and ``/metrics`` of ``app``'s runtime, and no API route (its
    writer decides no request). ``app``'s lifespan builds the runtime and runs the components
    as in any process; the relay's, consumers', followers' and sweepers' series live in this
    process's registry, so Prometheus scrapes them here, beside each HTTP process's own."""
    from kgo_runtime.http import health

    operations = FastAPI(
        title=app.title,
        lifespan=lambda _: app.router.lifespan_context(app),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    operations.state = app.state  # the lifespan puts the runtime and its metrics there
    operations.include_router(health)
    return operations
