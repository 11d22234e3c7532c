"""Missions' consumer rate: FarePaid records turned into completions through the real
IdempotentConsumer and the Postgres missions store, next to the raw consume rate of the same
topic on the same machine.

    uv run python -m bench.missions              # 2,000 residents, one ride each
    uv run python -m bench.missions --records 500
    uv run python -m bench.missions --per-record # also the per-record consumer, same run

Every record completes one mission (a first ride), so completions/s is also the rate of
"one fact in, one MissionCompleted stored". The consumer's cost per record: its inbox and
position transaction (asyncpg), then loading, judging and saving the resident's progress
(eventsourcing, psycopg) in a worker thread. The service runs it batched (a poll's records
of one partition in one inbox transaction and one save); ``--per-record`` measures the
per-record form too, on a fresh schema, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime, timedelta
from uuid import uuid4

import asyncpg

from kgo_contracts.base import BANGKOK
from kgo_contracts.transit import FarePaid
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import encode
from kgo_runtime.producing import produce
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import fresh_schema
from services.missions.adapters.event_store import open_missions
from services.missions.application import commands as c
from services.missions.entrypoints.consumer import batch_handler, handler
from services.missions.settings import MissionsSettings

from .raw import fresh_topic, kafka_consume, producer

T0 = datetime(2022, 6, 9, 7, 0, tzinfo=BANGKOK)
FIRST_RIDE = {
    "code": "first-ride", "title_th": "นั่งรถเมล์ครั้งแรก", "title_en": "First ride",
    "reward": 20, "starts_at": T0.isoformat(), "period": "once", "limit": 1,
    "campaign": "city-life", "programme": "welcome",
    "rule": {"kind": "first_time", "event": "fare_paid"},
}  # fmt: skip


async def run(records: int, batched: bool = True) -> dict[str, float]:
    infra = InfraSettings()
    bootstrap, dsn = infra.kafka_bootstrap, infra.database_url("missions")
    async with (
        fresh_schema(dsn, "bench_missions") as schema,
        fresh_topic(bootstrap, "missions-transit") as topic,
    ):
        fares = [
            FarePaid(trip_id=uuid4(), wallet_id=uuid4(), validator_id="v", route_id="r",
                     fare_product="regular", coins=1, baht_satang=0,
                     occurred_at=T0 + timedelta(seconds=i))
            for i in range(records)
        ]  # fmt: skip
        kafka = producer(bootstrap)
        await kafka.start()
        try:
            batch = [encode(f, ce_id=str(uuid4()), source="/kgo/bench", topic_for=lambda _e: topic)
                     for f in fares]  # fmt: skip
            await asyncio.gather(*await produce(kafka, batch))
        finally:
            await kafka.stop()
        raw = await kafka_consume(bootstrap, topic, records)

        settings = MissionsSettings(database_schema=schema, transit_topic=topic)
        missions = await asyncio.to_thread(open_missions, settings)
        missions.execute(c.PublishMission(idempotency_key="b", caller="bench", at=T0,
                                          spec=FIRST_RIDE))  # fmt: skip
        consumer = IdempotentConsumer(
            "bench-missions", [topic], batch_handler(missions) if batched else handler(missions),
            batched=batched, kafka_bootstrap=bootstrap, db=dsn, schema=schema,
        )  # fmt: skip
        started = time.perf_counter()
        task = asyncio.create_task(consumer.run())
        conn = await asyncpg.connect(dsn)
        try:
            while True:
                try:
                    done = await conn.fetchval(
                        f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.consumer_positions"
                    )
                except asyncpg.UndefinedTableError:  # the consumer creates it as it starts
                    done = 0
                if int(done) >= records:
                    break
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            stored = await conn.fetchval(
                f"SELECT count(*) FROM {schema}.missions_events"
                " WHERE topic = 'kgo.missions.ResidentProgress.MissionCompleted'"
            )
        finally:
            await conn.close()
            await consumer.stop()
            await task
            missions.close()
    return {
        "records": records,
        "raw_consume_per_s": raw.rate,
        "consumer_records_per_s": records / seconds,
        "completions": int(stored),
        "completions_per_s": int(stored) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--per-record", action="store_true", help="also the per-record form")
    args = parser.parse_args()
    modes = [True, False] if args.per_record else [True]
    print("| consumer | records | raw consume/s | consumer records/s | completions | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for batched in modes:
        result = asyncio.run(run(args.records, batched))
        ratio = result["consumer_records_per_s"] / max(result["raw_consume_per_s"], 1)
        print(
            f"| {'batched' if batched else 'per record'} | {result['records']:,} "
            f"| {result['raw_consume_per_s']:,.0f} | {result['consumer_records_per_s']:,.0f} "
            f"| {result['completions']:,} | {ratio:.3f} |"
        )


if __name__ == "__main__":
    main()
