"""The transit rules suite again, on the real PostgreSQL event store (one rules suite, two
backends): the same test bodies as tests/unit/transit/test_taps.py, each on a fresh schema.
Here optimistic concurrency is the database's, so three buses at once really race."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest

import tests.unit.transit.conftest as harness
import tests.unit.transit.test_taps as rules
from kgo_runtime.eventstore import eventstore_env
from kgo_runtime.settings import InfraSettings
from services.transit.application.service import TransitApplication

pytestmark = pytest.mark.integration

RULES = {
    name: test
    for name, test in inspect.getmembers(rules, inspect.iscoroutinefunction)
    if name.startswith("test_")
}


@pytest.fixture
def postgres_store() -> Iterator[Callable[[], TransitApplication]]:
    url = InfraSettings().database_url("transit")
    opened: list[tuple[TransitApplication, str]] = []

    def open_store() -> TransitApplication:
        schema = f"test_transit_{uuid4().hex[:10]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        env = eventstore_env(url, schema=schema, extra={"CREATE_TABLE": "y"})
        store = TransitApplication(env=env)
        opened.append((store, schema))
        return store

    yield open_store
    for store, schema in opened:
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("name", sorted(RULES))
async def test_rule_on_postgres(
    name: str, postgres_store: Callable[[], TransitApplication], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = harness.build_transit

    def on_postgres(*args: Any, **kwargs: Any) -> harness.Transit:
        return original(*args, store=postgres_store(), **kwargs)

    monkeypatch.setattr(rules, "build_transit", on_postgres)
    test: Callable[..., Awaitable[None]] = RULES[name]
    fixtures = {"transit": on_postgres, "monkeypatch": lambda: monkeypatch}
    wanted = inspect.signature(test).parameters
    await test(**{name: make() for name, make in fixtures.items() if name in wanted})
