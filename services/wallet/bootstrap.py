"""Wires the wallet service: event store, command bus, relay, directory, sweeper, the missions
consumer (completions become grants), HTTP API.

``kgo serve wallet`` runs ``create_app()``. Nothing connects at import or in ``create_app``:
the runtime's lifespan calls ``build`` once Kafka and Postgres answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import FastAPI

from kgo_runtime.access import AccessSigner, signing_key
from kgo_runtime.clock import SystemClock
from kgo_runtime.components import Component
from kgo_runtime.processing import dispatch
from kgo_runtime.service import ServiceContext, create_service_app

from .adapters.contracts import to_contract
from .adapters.directory import WalletDirectory
from .adapters.event_store import open_ledger
from .adapters.personal_data import vault_from
from .adapters.tokens import PostgresTokenStore
from .adapters.wallet_metrics import WalletMetrics
from .application.bus import CommandBus
from .entrypoints.background import HoldSweeper
from .entrypoints.container import WalletContainer
from .entrypoints.http import API_METADATA, build_router, install_error_handlers
from .entrypoints.missions import MissionGrants
from .settings import WalletSettings


def create_app(settings: WalletSettings | None = None) -> FastAPI:
    settings = settings or WalletSettings()

    async def build(ctx: ServiceContext) -> Sequence[Component]:
        ledger = await asyncio.to_thread(open_ledger, settings)
        ctx.on_shutdown(lambda: asyncio.to_thread(ledger.close))
        metrics = WalletMetrics(ctx.metrics)
        bus = CommandBus(ledger, max_batch=settings.max_batch, observe=metrics.observe_batch)
        await bus.start()
        ctx.on_shutdown(bus.stop)
        directory = WalletDirectory(ledger, ctx.pool, schema=settings.database_schema)
        await directory.create_tables()
        tokens = PostgresTokenStore(ctx.pool, schema=settings.database_schema)
        await tokens.create_tables()
        ctx.app.state.wallet = WalletContainer(
            settings=settings,
            ledger=ledger,
            bus=bus,
            vault=vault_from(settings),
            directory=directory,
            tokens=tokens,
            access=AccessSigner(signing_key()),
        )
        sweeper = HoldSweeper(directory, bus, metrics, settings.hold_sweep_seconds)
        relay = ctx.relay(ledger, to_contract, topic_for=lambda _event: settings.events_topic)
        grants = MissionGrants(bus, SystemClock())
        missions = ctx.consumer(
            settings.missions_consumer, [settings.missions_topic], dispatch(grants.handlers())
        )
        return [relay, directory, sweeper, missions]

    app = create_service_app(settings, build=build, routers=[build_router()])
    for attribute, value in API_METADATA.items():
        setattr(app, attribute, value)
    install_error_handlers(app)
    return app
