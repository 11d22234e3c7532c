"""Wires the missions service: its event store, the relay to its topic, the consumer of the
wallet, merchant and transit topics, and the HTTP API.

``kgo serve missions`` runs ``create_app()``. Nothing connects at import or in
``create_app``: the runtime's lifespan calls ``build`` once Kafka and Postgres answer. Tests
build the same app and :func:`install` an in-memory application and their own clock and keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import FastAPI

from kgo_runtime.access import AccessVerifier, Authenticator, public_key
from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.components import Component
from kgo_runtime.problems import install_error_handlers
from kgo_runtime.service import ServiceContext, create_service_app
from kgo_runtime.wallet_client import WalletClient

from .adapters.contracts import to_contract
from .adapters.event_store import open_missions
from .adapters.wallet_cards import CardResolver, WalletCards
from .application.service import MissionsApplication
from .entrypoints.consumer import batch_handler
from .entrypoints.container import MissionsContainer
from .entrypoints.http import API_METADATA, build_router
from .settings import MissionsSettings


def install(
    app: FastAPI,
    missions: MissionsApplication,
    access: Authenticator,
    *,
    settings: MissionsSettings,
    clock: Clock,
    cards: CardResolver | None = None,
) -> MissionsContainer:
    """Put what the routes need on ``app.state`` (the lifespan does it; tests too)."""
    container = MissionsContainer(settings=settings, missions=missions, clock=clock, cards=cards)
    app.state.missions = container
    app.state.access = access
    return container


def create_app(settings: MissionsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or MissionsSettings()
    clock = clock or SystemClock()

    async def build(ctx: ServiceContext) -> Sequence[Component]:
        missions = await asyncio.to_thread(open_missions, settings)
        ctx.on_shutdown(lambda: asyncio.to_thread(missions.close))
        wallet = WalletClient.for_service(settings)
        ctx.on_shutdown(wallet.close)
        access = Authenticator(
            verifier=AccessVerifier(public_key(), clock=clock),
            introspection=wallet.introspection(),
        )
        install(
            ctx.app, missions, access, settings=settings, clock=clock, cards=WalletCards(wallet)
        )
        topics = [settings.wallet_topic, settings.merchant_topic, settings.transit_topic]
        consumer = ctx.consumer("missions", topics, batch_handler(missions), batched=True)
        relay = ctx.relay(missions, to_contract, topic_for=lambda _event: settings.events_topic)
        return [relay, consumer]

    app = create_service_app(settings, build=build, routers=[build_router()])
    for attribute, value in API_METADATA.items():
        setattr(app, attribute, value)
    install_error_handlers(app, service="missions")
    return app
