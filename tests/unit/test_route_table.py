"""Every service's committed table of routes and roles equals the guards in its code, both
ways: a route added without a row, a row left behind, or a guard widened or narrowed fails here.
The e2e layer (tests/e2e/test_route_guards.py) then calls every guarded route with every role
the table leaves out."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from kgo_runtime.access import Role
from kgo_runtime.route_table import PUBLIC, guards, load
from kgo_runtime.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

SERVICES = ("wallet", "missions", "merchant", "transit", "projections")


def table_path(service: str) -> Path:
    return PROJECT_ROOT / "services" / service / "entrypoints" / "http" / "access.toml"


@pytest.mark.parametrize("service", SERVICES)
def test_the_code_guards_every_route_as_its_table_says(service: str) -> None:
    app = importlib.import_module(f"services.{service}.bootstrap").create_app()
    code, table = guards(app), load(table_path(service))
    assert sorted(set(code) - set(table)) == [], "routes missing from the table"
    assert sorted(set(table) - set(code)) == [], "rows in the table with no route"
    differ = {route: (sorted(table[route]), sorted(code[route])) for route in code
              if code[route] != table[route]}  # fmt: skip
    assert differ == {}, "route: (table, code)"


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_names_only_known_roles(service: str) -> None:
    known = {role.value for role in Role} | {PUBLIC}
    for route, roles in load(table_path(service)).items():
        assert roles <= known, route
        assert PUBLIC not in roles or roles == {PUBLIC}, route


@pytest.mark.parametrize("service", SERVICES)
def test_every_public_write_is_one_we_meant(service: str) -> None:
    """A write with no guard must guard itself with a secret in its body (a one-time code,
    a refresh token): the list is short and reviewed here."""
    meant = {
        "POST /v1/signups", "POST /v1/signups/{signup_id}/confirm",
        "POST /v1/phone-links/{link_id}/confirm", "POST /v1/sessions",
        "POST /v1/sessions/{challenge_id}/confirm", "POST /v1/sessions/refresh",
        "POST /v1/sessions/sign-out",
    }  # fmt: skip
    writes = {route for route, roles in load(table_path(service)).items()
              if roles == {PUBLIC} and not route.startswith("GET ")}  # fmt: skip
    assert writes <= meant
