"""The projections' speed beside the raw consume rate of the same machine on a synthetic city
history: the live batched consumer reading it from the start (every record validated), then
``kgo replay all`` (batched; records the live consumer validated are decoded without
validating again), the same records through the per-record consumer, and produce -> read
model latency.

    uv run python -m bench.projections                 # ~3,000 residents, ~55,000 events
    uv run python -m bench.projections --residents 300 # a smoke check

Raw consume: one plain aiokafka consumer reading the same four topics from the start, three
times before and once after the replay; the best of the three is the machine's raw rate (one
read in two or three otherwise lost ~0.2 s to a full garbage collection walking this
process's own history, which is why that history is frozen first: no service process holds
it). The replay runs twice and its better run is reported. The issue's target: replay
events/s at least half of the raw rate. CPU per record of this process (raw consumer, replay) is
printed too: other processes on the machine barely move it. Latency: one wallet grant (two legs)
produced at a time while the live batched consumer runs; from the produce call to the
change feed's notification that the batch holding it committed (p50/p99). The wallet's own
command -> topic leg is the relay's, measured in bench/relay.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from kgo_contracts import topics as names
from kgo_contracts import wallet as w
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import encode
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.postgres import create_tables
from kgo_runtime.producing import produce
from kgo_runtime.settings import InfraSettings
from services.projections.adapters.tables import ddl, model_names
from services.projections.entrypoints.changes import ChangeFeed
from services.projections.entrypoints.consumer import Projector
from services.projections.entrypoints.replay import Replay
from services.projections.settings import ProjectionsSettings
from tests.integration.projections.history import build

from .measure import percentile
from .raw import fresh_topic, producer


async def raw_consume(bootstrap: str, topics: list[str], count: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps: list[TopicPartition] = []
        for topic in topics:
            tps += await topic_partitions(bootstrap, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, started = 0, time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(r) for r in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def per_record(settings: ProjectionsSettings, dsn: str, count: int) -> float:
    """The same records through the per-record consumer (one transaction each)."""
    schema = settings.database_schema + "_one"
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    await create_tables(pool, ddl(schema, model_names()))
    projector = Projector(schema, model_names())

    async def one(conn: asyncpg.Connection, envelope: object) -> None:
        await projector(conn, [envelope])  # type: ignore[list-item]

    consumer = IdempotentConsumer(
        f"bench-one-{uuid.uuid4().hex[:6]}",
        settings.topics,
        one,
        kafka_bootstrap=settings.kafka_bootstrap,
        db=pool,
        schema=schema,
    )
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    try:
        while True:
            await asyncio.sleep(0.2)
            done = await pool.fetchval(
                f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.consumer_positions"
            )
            if done >= count or time.perf_counter() - started > 20:
                return int(done) / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await task
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


async def live_catch_up(settings: ProjectionsSettings, dsn: str, count: int) -> float:
    """The live batched consumer (every record validated) reading the history from the start."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    schema = settings.database_schema
    await create_tables(pool, ddl(schema, model_names()))
    consumer = IdempotentConsumer(
        settings.consumer_name, settings.topics, Projector(schema, model_names()),
        kafka_bootstrap=settings.kafka_bootstrap, db=pool, schema=schema, batched=True,
        max_records=settings.batch_records, across_partitions=True,  # as bootstrap.py
    )  # fmt: skip
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    try:
        while True:
            await asyncio.sleep(0.1)
            try:
                done = await pool.fetchval(
                    f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.consumer_positions"
                )
            except asyncpg.UndefinedTableError:
                continue
            if done >= count:
                return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await task
        await pool.close()


async def latency(settings: ProjectionsSettings, dsn: str, samples: int) -> list[float]:
    """Produce -> committed read model, one grant at a time, on the live batched consumer."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    schema = settings.database_schema
    await create_tables(pool, ddl(schema, model_names()))
    feed = ChangeFeed()
    consumer = IdempotentConsumer(
        settings.consumer_name,
        settings.topics,
        Projector(schema, model_names()),
        kafka_bootstrap=settings.kafka_bootstrap,
        db=pool,
        schema=schema,
        batched=True,
        after_commit=feed.committed,
        max_records=5000,
        across_partitions=True,  # as services/projections/bootstrap.py builds it
    )
    task = asyncio.create_task(consumer.run())
    history = build(residents=1, seed=99)
    budget = next(a for a in history.accounts.values() if a.kind == "budget")
    resident = next(a for a in history.accounts.values() if a.kind == "resident")
    kafka = producer(settings.kafka_bootstrap)
    await kafka.start()
    out: list[float] = []
    try:
        await asyncio.sleep(2)  # joined and caught up with the replayed history
        at = max(e.business_time() for e in history.events)
        for i in range(samples):
            history.move(
                w.GrantDisbursed,
                w.CoinsGranted,
                budget.id,
                resident.id,
                1,
                at + timedelta(seconds=i),
                programme="welcome",
                reason="bench",
                reference=f"bench-{i}",
            )
            legs = [
                encode(
                    e,
                    ce_id=str(uuid.uuid4()),
                    source="/kgo/wallet",
                    topic_for=lambda _e: settings.wallet_topic,
                )
                for e in history.events[-2:]
            ]
            version = feed.version
            started = time.perf_counter()
            await asyncio.gather(*await produce(kafka, legs))
            while feed.version == version:
                version_now = await feed.wait(version, timeout=5)
                if version_now == version:
                    break
            out.append(time.perf_counter() - started)
    finally:
        await kafka.stop()
        await consumer.stop()
        await task
        await pool.close()
    return out


async def run(residents: int) -> dict[str, Any]:
    infra = InfraSettings()
    bootstrap, dsn = infra.kafka_bootstrap, infra.database_url("projections")
    history = build(residents=residents, seed=1)
    async with (
        fresh_topic(bootstrap, "proj-wallet") as wallet_topic,
        fresh_topic(bootstrap, "proj-missions") as missions_topic,
        fresh_topic(bootstrap, "proj-merchant") as merchant_topic,
        fresh_topic(bootstrap, "proj-transit") as transit_topic,
    ):
        topic = {
            names.WALLET: wallet_topic,
            names.MISSIONS: missions_topic,
            names.MERCHANT: merchant_topic,
            names.TRANSIT: transit_topic,
        }
        suffix = uuid.uuid4().hex[:8]
        settings = ProjectionsSettings(
            database_schema=f"bench_proj_{suffix}",
            consumer_name=f"bench_{suffix}",
            wallet_topic=wallet_topic,
            missions_topic=missions_topic,
            merchant_topic=merchant_topic,
            transit_topic=transit_topic,
        )
        kafka = producer(bootstrap)
        await kafka.start()
        try:
            batch = [
                encode(
                    e,
                    ce_id=str(uuid.uuid4()),
                    source=e.ce_source(),
                    topic_for=lambda e: topic[e.topic],
                )
                for e in history.events
            ]
            await asyncio.gather(*await produce(kafka, batch))
        finally:
            await kafka.stop()
        count = len(history.events)
        # The history and its records live as long as the run: out of the collector's walks.
        gc.collect()
        gc.freeze()
        cpu = time.process_time()
        reads = [await raw_consume(bootstrap, settings.topics, count) for _ in range(3)]
        raw_cpu = (time.process_time() - cpu) / count / len(reads)
        raw = max(reads)
        try:
            live = await live_catch_up(settings, dsn, count)
            cpu = time.process_time()
            replays = [await Replay(settings).run() for _ in range(2)]
            replay_cpu = (time.process_time() - cpu) / count / len(replays)
            report = max(replays, key=lambda r: r.rate)
            raw_after = await raw_consume(bootstrap, settings.topics, count)
            one = await per_record(settings, dsn, count)
            lat = await latency(settings, dsn, 100)
        finally:
            conn = await asyncpg.connect(dsn)
            await conn.execute(f"DROP SCHEMA IF EXISTS {settings.database_schema} CASCADE")
            await conn.close()
    return {
        "events": count,
        "raw_consume": raw,
        "raw_reads": reads,
        "raw_after": raw_after,
        "raw_cpu_us": raw_cpu * 1e6,
        "replay_cpu_us": replay_cpu * 1e6,
        "load": os.getloadavg()[0],
        "live": live,
        "replay": report.rate,
        "replay_apply": report.apply_rate,
        "ratio": report.rate / raw,
        "per_record": one,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=3000)
    args = parser.parse_args()
    r = asyncio.run(run(args.residents))
    print(f"| projections ({r['events']:,.0f} events) | events/s | raw consume/s | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| live batched consumer from the start (validating) | {r['live']:,.0f} |"
        f" {r['raw_consume']:,.0f} | {r['live'] / r['raw_consume']:.2f} |"
    )
    print(f"| replay (batched) | {r['replay']:,.0f} | {r['raw_consume']:,.0f} | {r['ratio']:.2f} |")
    print(
        f"| replay, applying only (no set-up, no swap) | {r['replay_apply']:,.0f} |"
        f" {r['raw_consume']:,.0f} | {r['replay_apply'] / r['raw_consume']:.2f} |"
    )
    print(
        f"| per-record consumer | {r['per_record']:,.0f} | {r['raw_consume']:,.0f} |"
        f" {r['per_record'] / r['raw_consume']:.3f} |"
    )
    reads = ", ".join(f"{rate:,.0f}" for rate in r["raw_reads"])
    print(f"\nraw consume, three reads before the replay: {reads}/s (the best is the rate above)")
    print(f"produce -> read model committed: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
    print(
        f"raw consume again after the replay: {r['raw_after']:,.0f}/s; CPU of this process per"
        f" record: raw consume {r['raw_cpu_us']:.1f} µs, replay {r['replay_cpu_us']:.1f} µs"
        f" (the replay's Postgres work is in the server's processes); load average"
        f" {r['load']:.1f} at the end"
    )


if __name__ == "__main__":
    main()
