"""The merchant service's HTTP API."""

from __future__ import annotations

from fastapi import APIRouter

from kgo_runtime.http import flat_router

from . import routes_shops, routes_till
from .problems import install_error_handlers

__all__ = ["build_router", "install_error_handlers"]


def build_router() -> APIRouter:
    return flat_router(routes_shops.router, routes_till.router)
