"""Wires the merchant service: its event store, the relay to its topic, consumers and routes."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from kgo_runtime.components import Component
from kgo_runtime.service import ServiceContext, create_service_app
from services.merchant.adapters.contracts import to_contract
from services.merchant.application.service import MerchantApplication
from services.merchant.entrypoints import http
from services.merchant.settings import MerchantSettings


async def build(ctx: ServiceContext) -> Sequence[Component]:
    """Runs at startup once Kafka and Postgres answer (retried until they do)."""
    merchant = await ctx.open_application(MerchantApplication)
    ctx.app.state.merchant = merchant  # routes: Depends(kgo_runtime.http.provided("merchant"))
    return [ctx.relay(merchant, to_contract)]


def create_app(settings: MerchantSettings | None = None) -> FastAPI:
    return create_service_app(settings or MerchantSettings(), build=build, routers=[http.router])
