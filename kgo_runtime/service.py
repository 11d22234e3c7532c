"""Building a service process: :func:`create_service_app` returns the FastAPI app whose
lifespan owns every resource. Nothing connects at import or in ``create_app``.

At startup the lifespan creates the metrics registry, logging and a lazy asyncpg pool, then
starts the HTTP server at once (``/healthz`` answers even while Kafka or Postgres are down).
In the background it starts the shared Kafka producer, creates the service's schema and
calls the bootstrap's ``build(ctx)``, retrying until the infrastructure answers; the
components ``build`` returns are then run under a :class:`~kgo_runtime.components.Supervisor`
(or not at all, in an ``api`` process whose service runs them in a process of their own:
kgo_runtime.roles).
On shutdown (SIGTERM) the components stop last-started first, then the ``on_shutdown``
callbacks run, the producer flushes and the pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from eventsourcing.application import Application
from fastapi import APIRouter, FastAPI

from kgo_runtime.collector import settle
from kgo_runtime.components import Component, Supervisor
from kgo_runtime.consumer import BatchHandler, Handler, IdempotentConsumer
from kgo_runtime.eventstore import TApplication, open_application
from kgo_runtime.http import (
    NO_TELEMETRY,
    add_routes,
    health,
    index_literal_paths,
    install_middleware,
)
from kgo_runtime.kafka_security import kafka_client_options
from kgo_runtime.logging import configure_logging, get_logger
from kgo_runtime.metrics import Metrics
from kgo_runtime.postgres import ensure_schema
from kgo_runtime.relay import Relay, ToContract
from kgo_runtime.roles import process_role
from kgo_runtime.settings import ServiceSettings

log = get_logger(__name__)
Cleanup = Callable[[], Awaitable[None] | None]


@dataclass
class ServiceContext:
    """What a bootstrap's ``build`` gets: settings and the process's shared resources."""

    settings: ServiceSettings
    app: FastAPI
    metrics: Metrics
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    cleanups: list[Cleanup] = field(default_factory=list)

    @property
    def service(self) -> str:
        return self.settings.service_name

    def on_shutdown(self, callback: Cleanup) -> None:
        """Run ``callback`` after the components stopped (last registered first)."""
        self.cleanups.append(callback)

    async def open_application(
        self, cls: type[TApplication], extra_env: Mapping[str, str] | None = None
    ) -> TApplication:
        """Open the service's eventsourcing application on its database and schema; it is
        closed on shutdown after the components (its relay) stopped."""
        application = await open_application(
            cls,
            self.settings.database_url,
            schema=self.settings.database_schema,
            pool=self.pool,
            extra=extra_env,
        )
        self.on_shutdown(lambda: asyncio.to_thread(application.close))
        return application

    def relay(
        self, application: Application[Any], to_contract: ToContract, **options: Any
    ) -> Relay:
        """The relay of this service's event store to its topic, named after the service."""
        defaults: dict[str, Any] = {
            "name": self.service,
            "source": f"/kgo/{self.service}",
            "kafka_bootstrap": self.settings.kafka_bootstrap,
            "db": self.pool,
            "schema": self.settings.database_schema,
            "metrics": self.metrics,
        }
        return Relay(application, to_contract, **(defaults | options))

    def consumer(
        self, name: str, topics: Sequence[str], handler: Handler | BatchHandler, **options: Any
    ) -> IdempotentConsumer:
        """An idempotent consumer on this service's database, dead-lettering via the shared
        producer; ``name`` is also its consumer group (``kgo.<name>``). ``batched=True``
        takes a batch handler (many records, one transaction)."""
        defaults: dict[str, Any] = {
            "kafka_bootstrap": self.settings.kafka_bootstrap,
            "db": self.pool,
            "schema": self.settings.database_schema,
            "metrics": self.metrics,
            "producer": self.producer,
        }
        return IdempotentConsumer(name, topics, handler, **(defaults | options))


Build = Callable[[ServiceContext], Awaitable[Sequence[Component]]]


async def _no_components(_ctx: ServiceContext) -> Sequence[Component]:
    return ()


class ServiceRuntime:
    """Owns one process's resources and components; lives in ``app.state.runtime``."""

    def __init__(self, settings: ServiceSettings, app: FastAPI, build: Build) -> None:
        self.settings = settings
        self.app = app
        self.metrics = Metrics(settings.service_name)
        self.pool: asyncpg.Pool | None = None
        self.supervisor = Supervisor()
        self.started = asyncio.Event()
        self._build = build
        self._ctx: ServiceContext | None = None
        self._starter: asyncio.Task[None] | None = None
        self._kafka_probe: AIOKafkaClient | None = None
        self._probe_lock = asyncio.Lock()

    async def start(self) -> None:
        # Unusable Kafka login settings stop the start here, not in the retry loop below.
        kafka_client_options()
        self.pool = await asyncpg.create_pool(
            self.settings.database_url, min_size=0, max_size=self.settings.database_pool_size
        )
        self._starter = asyncio.create_task(self._start_components(), name="kgo:starter")

    async def _start_components(self) -> None:
        assert self.pool is not None
        backoff = 0.5
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id=f"kgo-{self.settings.service_name}",
                enable_idempotence=True,
                acks="all",
                linger_ms=5,
                **kafka_client_options(),
            )
            ctx = ServiceContext(self.settings, self.app, self.metrics, self.pool, producer)
            try:
                await producer.start()
                await ensure_schema(self.pool, self.settings.database_schema)
                components = await self._build(ctx)
                break
            except asyncio.CancelledError:
                await _close(ctx)
                raise
            except Exception as e:
                # Usually Kafka or Postgres not answering yet; a bug in build shows here too.
                log.warning("startup failed; retrying", error=repr(e), retry_in=backoff)
                await _close(ctx)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self._ctx = ctx
        role = process_role()
        if not role.runs_components:
            components = []  # a process of its own runs them (kgo_runtime.roles)
        elif role.leads and components:
            components = [_background_leader(self.settings, components)]
        for component in components:
            self.supervisor.start(component)
        self.started.set()
        log.info("service started", components=[c.name for c in components])
        # What exists now lives as long as the process: no full collection walks it again
        # (a served process only, kgo_runtime.collector).
        settle()

    async def stop(self) -> None:
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        await self.supervisor.stop()
        if self._ctx is not None:
            await _close(self._ctx)
        if self._kafka_probe is not None:
            await self._kafka_probe.close()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 5)
        log.info("service stopped")

    async def readiness(self) -> dict[str, str]:
        """``"ok"`` or the reason, for Postgres, Kafka and the components."""
        postgres, kafka = await asyncio.gather(
            _check(self._ping_postgres()), _check(self._ping_kafka())
        )
        started = "ok" if self.started.is_set() else "connecting"
        return {"postgres": postgres, "kafka": kafka, "components": started}

    async def _ping_postgres(self) -> None:
        assert self.pool is not None
        await self.pool.fetchval("SELECT 1")

    async def _ping_kafka(self) -> None:
        async with self._probe_lock:
            if self._kafka_probe is None:
                self._kafka_probe = await self._kafka_client()
        await self._kafka_probe.fetch_all_metadata()

    async def _kafka_client(self) -> AIOKafkaClient:
        client = AIOKafkaClient(
            bootstrap_servers=self.settings.kafka_bootstrap,
            request_timeout_ms=2000,
            **kafka_client_options(),
        )
        try:
            await client.bootstrap()
        except BaseException:
            await client.close()
            raise
        return client


def _background_leader(settings: ServiceSettings, components: Sequence[Component]) -> Component:
    from kgo_runtime.leadership import BackgroundLeader, lock_key

    key = lock_key(settings.service_name, settings.database_schema)
    return BackgroundLeader(components, settings.database_url, key)


async def _check(probe: Awaitable[None], timeout: float = 2.0) -> str:
    try:
        await asyncio.wait_for(probe, timeout)
    except Exception as e:
        return f"down: {e!r}"[:300]
    return "ok"


async def _close(ctx: ServiceContext) -> None:
    for callback in reversed(ctx.cleanups):
        try:
            result = callback()
            if result is not None:
                await result
        except Exception:
            log.exception("shutdown callback failed")
    ctx.cleanups.clear()
    with contextlib.suppress(Exception):
        await ctx.producer.stop()


def create_service_app(
    settings: ServiceSettings,
    *,
    build: Build = _no_components,
    routers: Sequence[APIRouter] = (),
    title: str | None = None,
    description: str = "",
) -> FastAPI:
    """The service's FastAPI app: shared routes, the bootstrap's routers, and a lifespan
    that runs ``build`` and the components it returns (``title``/``description`` go to the
    OpenAPI document)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        runtime = ServiceRuntime(settings, app, build)
        app.state.metrics = runtime.metrics
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title or f"KGO {settings.service_name}",
        description=description,
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    install_middleware(app)
    add_routes(app, health)
    for router in routers:
        add_routes(app, router)
    index_literal_paths(app)
    return app
