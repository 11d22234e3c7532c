"""Wires the projections service: consumers of every topic keeping the read models, and routes."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from kgo_runtime.components import Component
from kgo_runtime.service import ServiceContext, create_service_app
from services.projections.entrypoints import http
from services.projections.settings import ProjectionsSettings


async def build(ctx: ServiceContext) -> Sequence[Component]:
    """Runs at startup once Kafka and Postgres answer (retried until they do). Read models
    arrive as ``ctx.consumer(name, topics, handler)`` components."""
    return []


def create_app(settings: ProjectionsSettings | None = None) -> FastAPI:
    return create_service_app(settings or ProjectionsSettings(), build=build, routers=[http.router])
