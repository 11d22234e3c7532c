"""The transit service's HTTP API (``/v1``): validators tap, administrators shape the
network and read statements, the municipality settles with the operator."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from kgo_runtime import problems as shared

from ...domain.errors import TransitError
from . import routes_network, routes_statements, routes_taps
from .problems import problem_of


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1")
    for module in (routes_taps, routes_network, routes_statements):
        router.include_router(module.router)
    return router


def install_error_handlers(app: FastAPI) -> None:
    """Every error as problem+json; domain errors through the one table in problems.py."""
    shared.install_error_handlers(app, service="transit")

    async def on_domain_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, TransitError)
        problem = problem_of(error)
        return shared.problem_response(
            problem.status, problem.code, problem.detail, headers=problem.headers
        )

    app.add_exception_handler(TransitError, on_domain_error)
