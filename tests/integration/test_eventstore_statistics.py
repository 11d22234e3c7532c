"""Every service's events table is analysed from a small sample (kgo_runtime.eventstore.
short_analyze): its writers lock the table for every insert, and ANALYZE holds a lock that
conflicts with theirs, so a long ANALYZE stops every write for its duration."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from kgo_runtime.eventstore import EVENTS_STATISTICS, open_application, short_analyze
from kgo_runtime.settings import InfraSettings
from services.merchant.application.service import MerchantApplication
from services.missions.adapters.event_store import open_missions
from services.missions.settings import MissionsSettings
from services.wallet.adapters.event_store import open_ledger
from services.wallet.settings import WalletSettings

pytestmark = pytest.mark.integration


def _targets(url: str, schema: str, table: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped",
            (f'"{schema}"."{table}"',),
        ).fetchall()
    return dict(rows)


def _targets_of(application: Any, url: str, schema: str) -> dict[str, int]:
    """The statistics targets of ``application``'s events table, then the store closed."""
    try:
        return _targets(url, schema, application.recorder.events_table_name)
    finally:
        application.close()


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"test_stats_{uuid4().hex[:10]}"
    yield name
    for service in ("wallet", "missions", "merchant"):
        with psycopg.connect(InfraSettings().database_url(service), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_the_wallet_ledger_sets_small_targets_once(schema: str) -> None:
    settings = WalletSettings(database_schema=schema)
    ledger = open_ledger(settings)
    try:
        table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
        assert _targets(settings.database_url, schema, table) == EVENTS_STATISTICS
        # A second process opening the same store finds nothing to alter.
        assert short_analyze(ledger) == []
    finally:
        ledger.close()
    again = open_ledger(settings)
    again.close()
    assert _targets(settings.database_url, schema, table) == EVENTS_STATISTICS


def test_analyze_still_gathers_the_keys_statistics_and_skips_the_payload(schema: str) -> None:
    settings = WalletSettings(database_schema=schema)
    ledger = open_ledger(settings)
    table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
    ledger.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{schema}"."{table}" (originator_id, originator_version, topic, state)'
            " SELECT gen_random_uuid(), 1, 't', convert_to(repeat('x', 300), 'UTF8')"
            " FROM generate_series(1, 2000)"
        )
        conn.execute(f'ANALYZE "{schema}"."{table}"')
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_stats WHERE schemaname = %s AND tablename = %s",
                (schema, table),
            )
        }
    assert {"originator_id", "originator_version", "notification_id"} <= columns
    assert "state" not in columns


def test_missions_and_the_runtimes_applications_get_them_too(schema: str) -> None:
    missions_settings = MissionsSettings(database_schema=schema)
    missions = open_missions(missions_settings)
    assert _targets_of(missions, missions_settings.database_url, schema) == EVENTS_STATISTICS
    url = InfraSettings().database_url("merchant")
    merchant = asyncio.run(open_application(MerchantApplication, url, schema=schema))
    assert _targets_of(merchant, url, schema) == EVENTS_STATISTICS


def test_a_table_it_cannot_alter_now_is_left_for_the_next_start(schema: str) -> None:
    """Writers holding the table's lock past the timeout (or a table the service does not
    own): the store opens as before, and a later start sets the targets."""
    settings = WalletSettings(database_schema=schema)
    ledger = open_ledger(settings)
    try:
        table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
        qualified = f'"{schema}"."{table}"'
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {qualified} ALTER COLUMN topic SET STATISTICS -1")
        with psycopg.connect(settings.database_url) as holder:
            holder.execute(f"LOCK TABLE {qualified} IN EXCLUSIVE MODE")  # as a writer does
            assert short_analyze(ledger) == []
            holder.rollback()
        assert _targets(settings.database_url, schema, table)["topic"] == -1
        assert short_analyze(ledger) == ["topic"]
        assert _targets(settings.database_url, schema, table) == EVENTS_STATISTICS
    finally:
        ledger.close()
