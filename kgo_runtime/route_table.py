"""Each service's table of routes and roles (``entrypoints/http/access.toml``) and the guards
its code actually has, so that a test can hold the two equal both ways.

A guard is the dependency that ``allow(*roles)`` makes (kgo_runtime.access, and the wallet's own
copy in its HTTP context): the roles are read from its closure, wherever in a route's dependency
tree it sits. A route without one is ``public``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

PUBLIC = "public"


def _routes(app: FastAPI) -> Iterator[Any]:
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):  # an included router (FastAPI >= 0.16x)
            yield from route.effective_route_contexts()
        elif hasattr(route, "dependant"):
            yield route


def _roles(dependant: Any) -> set[str]:
    found: set[str] = set()
    for dependency in dependant.dependencies:
        call = dependency.call
        if getattr(call, "__qualname__", "").endswith("allow.<locals>.allowed"):
            cells = dict(zip(call.__code__.co_freevars, call.__closure__ or (), strict=True))
            found |= {str(role) for role in cells["roles"].cell_contents}
        found |= _roles(dependency)
    return found


def guards(app: FastAPI) -> dict[str, frozenset[str]]:
    """``"METHOD /path"`` -> the roles its guard lets through, or ``{"public"}``."""
    table: dict[str, frozenset[str]] = {}
    for route in _routes(app):
        roles = frozenset(_roles(route.dependant)) or frozenset({PUBLIC})
        for method in route.methods or ():
            table[f"{method} {route.path}"] = roles
    return table


def load(path: Path) -> dict[str, frozenset[str]]:
    """The committed table: ``[routes]`` of ``"METHOD /path" = [roles]``."""
    routes = tomllib.loads(path.read_text())["routes"]
    return {route: frozenset(roles) for route, roles in routes.items()}
