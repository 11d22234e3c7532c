"""The integrity store on PostgreSQL against the in-memory one of the unit tests: a batch of
fares (re-deliveries in it, some fares stored by an earlier batch) stores the same taps and
raises the same flags with the same evidence, batch by batch."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import asyncpg
import pytest

from kgo_contracts import transit as tr
from kgo_contracts.examples import examples_of
from services.projections.adapters.integrity_store import PostgresIntegrityStore, integrity_ddl
from services.projections.application.integrity import IntegrityRules
from services.projections.integrity_settings import IntegritySettings
from tests.unit.projections.integrity_fakes import InMemoryIntegrityStore

from .conftest import DSN

pytestmark = pytest.mark.integration

FARE = examples_of(tr.FarePaid)[0]


async def test_fares_in_batches_on_postgres_decide_as_in_memory() -> None:
    rng = random.Random(5)
    riders = [uuid.uuid4() for _ in range(5)]
    story = [
        FARE.model_copy(
            update={
                "trip_id": uuid.uuid4(),
                "wallet_id": rng.choice(riders),
                "validator_id": f"KKB-0{rng.randint(1, 4)}-V01",
                "occurred_at": FARE.occurred_at + timedelta(seconds=rng.randint(0, 3_600)),
            }
        )
        for _ in range(150)
    ]
    story += [rng.choice(story) for _ in range(20)]
    rng.shuffle(story)
    batches = [story[:1], story[1:60], story[60:61], story[61:]]
    settings = IntegritySettings(rapid_taps_min=3, tap_validators_min=3)
    schema = f"t_integrity_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(integrity_ddl(schema))
        memory = InMemoryIntegrityStore()
        for batch in batches:
            async with conn.transaction():
                on_postgres = await IntegrityRules(PostgresIntegrityStore(conn, schema),
                                                   settings).apply(
                    (e.wire_name, e) for e in batch
                )  # fmt: skip
            in_memory = await IntegrityRules(memory, settings).apply(
                (e.wire_name, e) for e in batch
            )
            assert on_postgres == in_memory
        taps = await conn.fetch(
            f"SELECT trip_id, wallet_id, validator_id, occurred_at FROM {schema}.integrity_taps"
        )
        assert {r["trip_id"]: (r["wallet_id"], r["validator_id"], r["occurred_at"])
                for r in taps} == {
            trip: (wallet, tap.validator_id, tap.at) for trip, (wallet, tap) in memory.fares.items()
        }  # fmt: skip
        kept = await conn.fetch(f"SELECT flag_id, kind FROM {schema}.integrity_flags")
        assert {r["flag_id"] for r in kept} == set(memory.flags)
        assert {r["kind"] for r in kept} == {"pass_rapid_taps", "pass_on_many_validators"}
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
