"""Wires the missions service: its event store, the relay to its topic, consumers and routes."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from kgo_runtime.components import Component
from kgo_runtime.service import ServiceContext, create_service_app
from services.missions.adapters.contracts import to_contract
from services.missions.application.service import MissionsApplication
from services.missions.entrypoints import http
from services.missions.settings import MissionsSettings


async def build(ctx: ServiceContext) -> Sequence[Component]:
    """Runs at startup once Kafka and Postgres answer (retried until they do)."""
    missions = await ctx.open_application(MissionsApplication)
    ctx.app.state.missions = missions  # routes: Depends(kgo_runtime.http.provided("missions"))
    return [ctx.relay(missions, to_contract)]


def create_app(settings: MissionsSettings | None = None) -> FastAPI:
    return create_service_app(settings or MissionsSettings(), build=build, routers=[http.router])
