"""Wires the transit service: its event store, the relay to its topic, consumers and routes."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from kgo_runtime.components import Component
from kgo_runtime.service import ServiceContext, create_service_app
from services.transit.adapters.contracts import to_contract
from services.transit.application.service import TransitApplication
from services.transit.entrypoints import http
from services.transit.settings import TransitSettings


async def build(ctx: ServiceContext) -> Sequence[Component]:
    """Runs at startup once Kafka and Postgres answer (retried until they do)."""
    transit = await ctx.open_application(TransitApplication)
    ctx.app.state.transit = transit  # routes: Depends(kgo_runtime.http.provided("transit"))
    return [ctx.relay(transit, to_contract)]


def create_app(settings: TransitSettings | None = None) -> FastAPI:
    return create_service_app(settings or TransitSettings(), build=build, routers=[http.router])
