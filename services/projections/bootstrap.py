"""Wires the projections service: one batched consumer of every topic keeping the read
models in the live schema, the query API, and the change feed the dashboard waits on.

``kgo serve projections`` runs ``create_app()``. Nothing connects at import or in
``create_app``; ``app.state.changes`` exists from the start (the dashboard's routes use it).
"""

from __future__ import annotations

import functools
import gc
import importlib
from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from kgo_runtime.access import AccessVerifier, Authenticator, public_key
from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.collector import SERVED_THRESHOLDS
from kgo_runtime.components import Component
from kgo_runtime.metrics import Metrics
from kgo_runtime.postgres import create_tables
from kgo_runtime.problems import install_error_handlers
from kgo_runtime.service import ServiceContext, create_service_app
from kgo_runtime.wallet_client import WalletClient

from .adapters.tables import ddl, model_names
from .entrypoints.changes import ChangeFeed
from .entrypoints.consumer import Projector
from .entrypoints.digests import digest_consumer, digest_router
from .entrypoints.http import API_METADATA, build_router
from .entrypoints.http.context import Projections
from .entrypoints.http.integrity import build_integrity_router
from .entrypoints.integrity import integrity_component
from .integrity_settings import IntegritySettings
from .settings import ProjectionsSettings


def records_behind(metrics: Metrics, consumer: str) -> int | None:
    """Records on the topics the consumer has not read yet (its lag gauges' sum)."""
    total, seen = 0, False
    for metric in metrics.registry.collect():
        if metric.name != "kgo_consumer_lag_records":
            continue
        for sample in metric.samples:
            if sample.labels.get("consumer") == consumer:
                total, seen = total + int(sample.value), True
    return total if seen else None


def _dashboard_routers() -> list[APIRouter]:
    """The dashboard's routes, when its package (``entrypoints/dashboard``) offers a
    ``router``."""
    try:
        module = importlib.import_module("services.projections.entrypoints.dashboard")
    except ImportError:
        return []
    router = getattr(module, "router", None)
    return [router] if isinstance(router, APIRouter) else []


def create_app(
    settings: ProjectionsSettings | None = None,
    *,
    clock: Clock | None = None,
    access: Authenticator | None = None,
    integrity: IntegritySettings | None = None,
) -> FastAPI:
    settings = settings or ProjectionsSettings()
    integrity = integrity or IntegritySettings()
    clock = clock or SystemClock()
    changes = ChangeFeed()

    async def build(ctx: ServiceContext) -> Sequence[Component]:
        # Folding batches allocates many short-lived objects: collect the young generation
        # less often (measured: about twice the events per second on a replay).
        gc.set_threshold(*SERVED_THRESHOLDS)
        schema = settings.database_schema
        await create_tables(ctx.pool, ddl(schema, model_names()))
        authenticator = access
        if authenticator is None:
            wallet = WalletClient.for_service(settings)
            ctx.on_shutdown(wallet.close)
            authenticator = Authenticator(
                verifier=AccessVerifier(public_key(), clock=clock),
                introspection=wallet.introspection(),
            )
        ctx.app.state.access = authenticator
        name = settings.consumer_name
        ctx.app.state.projections = Projections(
            settings, ctx.pool, clock, lambda: records_behind(ctx.metrics, name)
        )
        consumer = ctx.consumer(
            name,
            settings.topics,
            Projector(schema, model_names()),
            batched=True,
            after_commit=changes.committed,
            max_records=settings.batch_records,
            partitions_at_once=settings.partitions_at_once,
            across_partitions=True,
        )
        ctx.metrics.watch_staleness(name, consumer.lag_seconds)
        behind = functools.partial(records_behind, ctx.metrics, integrity.consumer_name)
        integrity_part = await integrity_component(ctx, settings, integrity, clock, behind)
        digests = await digest_consumer(ctx, settings)
        return [consumer, integrity_part, *filter(None, [digests])]

    routers = [build_router(), build_integrity_router(), digest_router(), *_dashboard_routers()]
    app = create_service_app(settings, build=build, routers=routers)
    for attribute, value in API_METADATA.items():
        setattr(app, attribute, value)
    app.state.changes = changes
    install_error_handlers(app, service="projections")
    return app
