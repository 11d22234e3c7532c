"""Command -> read model latency at a steady rate (open loop), through a real
`kgo serve projections` process, beside the raw produce -> consume latency of the same broker
at the same rate in the same run.

    uv run python -m bench.latency                       # 200/s and 1,000/s, 10 s each
    uv run python -m bench.latency --rates 200 --seconds 5

The layer driven: the events each command leaves on Kafka, produced on a fixed schedule
(command i is due at start + i / rate, whatever happened to the ones before: open loop), so
the number is the projections' own leg, not the HTTP clients' (Python clients saturate near
100-200 requests/s here) nor the writing services' (their command -> topic legs are in
bench/merchant.py, bench/transit.py, bench/grants.py and the relay's rows). One command:

- a shop redemption: the wallet's CoinsHeld, HoldCaptured and PaymentReceived legs and the
  merchant's DiscountRedeemed (4 records on 2 topics);
- a validator tap: the wallet's CoinsSpent and PaymentReceived legs and transit's FarePaid
  (3 records on 2 topics);
- a mission completion: missions' MissionCompleted and the wallet's GrantDisbursed and
  CoinsGranted legs (3 records on 2 topics).

Latency: from the command's scheduled time until its row (the redemption, the fare, the
completion) is in the read model, seen by a poller that asks Postgres every 10 ms (so up
to 10 ms of it is the poller's). Raw: one record per command on a fresh topic, same
schedule, until a plain consumer reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kgo_contracts import merchant as mc
from kgo_contracts import missions as ms
from kgo_contracts import topics as names
from kgo_contracts import wallet as w
from kgo_runtime.envelope import OutgoingRecord, encode
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.producing import produce
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from tests.e2e.platform import ServiceProcess, service_process
from tests.integration.projections.history import CAMPAIGN_END, History, _redeem, _ride, build

from .measure import percentile

KINDS = ("redemption", "tap", "completion")
#: Which table and key show that a command reached the read model.
FOUND = {"redemption": ("redemptions", "redemption_id"), "tap": ("fares", "trip_id"),
         "completion": ("completions", "completion_id")}  # fmt: skip
POLL_SECONDS = 0.010


@dataclass
class Command:
    kind: str
    fact: UUID
    records: list[OutgoingRecord]
    due: float = 0.0
    seen: float | None = None


@dataclass
class Outcome:
    rate: float
    commands: list[Command]
    started: float
    send_lag: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def summary(self, kind: str | None = None) -> dict[str, Any]:
        mine = [c for c in self.commands if kind is None or c.kind == kind]
        times = [(c.seen, c.due) for c in mine if c.seen is not None]
        latencies = [seen - due for seen, due in times]
        last = max((seen for seen, _ in times), default=self.started)
        return {
            "commands": len(mine),
            "reached": len(times),
            "per_second": len(times) / (last - self.started) if last > self.started else 0.0,
            "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else None,
            "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
        }


def _topics(base: str) -> dict[str, str]:
    return {t: f"{base}.{t.split('.')[1]}" for t in names.EVENT_TOPICS}


def city(residents: int) -> tuple[History, list[UUID], dict[str, Any]]:
    """A small history, then every resident granted enough coins for the run."""
    h = build(residents=residents, seed=5)
    kinds = {a.id: a.kind for a in h.accounts.values()}
    budget = next(a for a, k in kinds.items() if k == "budget")
    operator = next(a for a, k in kinds.items() if k == "operator")
    wallets = [a for a, k in kinds.items() if k == "resident"]
    at = CAMPAIGN_END - timedelta(days=2)
    for i, wallet in enumerate(wallets):
        h.move(w.GrantDisbursed, w.CoinsGranted, budget, wallet, 1000, at, programme="welcome",
               reason="bench", reference=f"bench-seed-{i}")  # fmt: skip
    shops = [(e.shop_id, e.payee_account_id) for e in h.events if isinstance(e, mc.ShopEnrolled)]
    mission = next(e.mission_id for e in h.events if isinstance(e, ms.MissionPublished))
    return h, wallets, {"budget": budget, "operator": operator, "shops": shops,
                        "mission": mission, "at": at}  # fmt: skip


def commands(h: History, wallets: list[UUID], ctx: dict[str, Any], count: int,
             topic: dict[str, str], tag: str) -> list[Command]:  # fmt: skip
    """``count`` commands, the three kinds in turn, each with the records it leaves."""
    out: list[Command] = []
    for i in range(count):
        wallet = wallets[i % len(wallets)]
        at = ctx["at"] + timedelta(milliseconds=i)
        before = len(h.events)
        kind = KINDS[i % 3]
        if kind == "redemption":
            shop_id, payee = ctx["shops"][i % len(ctx["shops"])]
            _redeem(h, wallet, shop_id, payee, 5, at, f"{tag}-{i}", False)
            fact = h.id(f"redemption-{tag}-{i}")
        elif kind == "tap":
            _ride(h, wallet, ctx["operator"], ctx["budget"], ctx["mission"], at, i, 1)
            fact = h.events[-1].trip_id  # type: ignore[attr-defined]
        else:
            fact = uuid.uuid4()
            h.move(w.GrantDisbursed, w.CoinsGranted, ctx["budget"], wallet, 5, at,
                   programme="welcome", reason="mission", reference=str(fact))  # fmt: skip
            h.events.append(ms.MissionCompleted(
                completion_id=fact, wallet_id=wallet, mission_id=ctx["mission"],
                programme="welcome", period="once", reward=5, campaign="welcome", occurred_at=at,
            ))  # fmt: skip
        events = h.events[before:]
        assert events, f"{kind} {i}: the resident ran out of coins"
        out.append(Command(kind, fact, [_record(e, topic) for e in events]))
    return out


def _record(event: Any, topic: dict[str, str]) -> OutgoingRecord:
    return encode(event, ce_id=str(uuid.uuid4()), source=event.ce_source(),
                  topic_for=lambda e: topic[e.topic])  # fmt: skip


async def steady(kafka: AIOKafkaProducer, cmds: Sequence[Command], rate: float) -> list[float]:
    """Hand each command's records to the producer at its due time; returns the send lags."""
    start = time.perf_counter() + 0.2
    for i, c in enumerate(cmds):
        c.due = start + i / rate
    lags: list[float] = []
    deliveries: list[asyncio.Future[object]] = []
    i = 0
    while i < len(cmds):
        now = time.perf_counter()
        due: list[Command] = []
        while i < len(cmds) and cmds[i].due <= now:
            due.append(cmds[i])
            i += 1
        if not due:
            await asyncio.sleep(min(0.002, cmds[i].due - now))
            continue
        deliveries += await produce(kafka, [r for c in due for r in c.records])
        sent = time.perf_counter()
        lags += [sent - c.due for c in due]
    await asyncio.gather(*deliveries)
    return lags


async def poll_read_model(dsn: str, schema: str, cmds: Sequence[Command], timeout: float) -> None:
    """Stamp each command when its row is in the read model."""
    conn = await asyncpg.connect(dsn)
    # Probed by each table's key, one lookup per command waited for, whatever the table's size
    # (`key = ANY($1)` scanned whole tables as they grew: ~3 ms a poll under load in
    # bench.transit, a tenth of a core or more taken from the stack being measured).
    sql = " UNION ALL ".join(
        f"SELECT t.{key} FROM unnest(${n + 1}::uuid[]) AS w(id)"
        f" JOIN {schema}.{table} AS t ON t.{key} = w.id"
        for n, (table, key) in enumerate(FOUND[k] for k in KINDS)
    )
    inflight: dict[UUID, Command] = {}
    i, left = 0, len(cmds)
    deadline = time.perf_counter() + timeout
    try:
        while left and time.perf_counter() < deadline:
            now = time.perf_counter()
            while i < len(cmds) and cmds[i].due and cmds[i].due <= now:
                inflight[cmds[i].fact] = cmds[i]
                i += 1
            if inflight:
                by_kind = [[c.fact for c in inflight.values() if c.kind == k] for k in KINDS]
                rows = await conn.fetch(sql, *by_kind)
                seen = time.perf_counter()
                for row in rows:
                    inflight.pop(row[0]).seen = seen
                    left -= 1
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_rate(kafka: AIOKafkaProducer, service: ServiceProcess, dsn: str, schema: str,
                   cmds: list[Command], rate: float) -> Outcome:  # fmt: skip
    assert service.process is not None
    cpu = _cpu(service.process.pid)
    poller = asyncio.create_task(poll_read_model(dsn, schema, cmds, len(cmds) / rate + 60))
    started = time.perf_counter()
    lags = await steady(kafka, cmds, rate)
    await poller
    return Outcome(rate, cmds, started, lags, _cpu(service.process.pid) - cpu)


async def raw_rate(kafka: AIOKafkaProducer, bootstrap: str, topic: str, count: int,
                   rate: float) -> Outcome:  # fmt: skip
    """The broker alone: one ~400-byte record per command, same schedule, read back."""
    cmds = [Command("raw", uuid.uuid4(), []) for _ in range(count)]
    for c in cmds:
        c.records = [OutgoingRecord(topic, c.fact.bytes, os.urandom(400), [])]
    by_key = {c.fact.bytes: c for c in cmds}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tps = await topic_partitions(bootstrap, topic)
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    # The producer learns the fresh topic's leaders first: otherwise the first records of the
    # schedule wait for that metadata, a tail the service's rows (topics in use) never pay.
    await kafka.partitions_for(topic)

    async def tail() -> None:
        left = count
        while left:
            for records in (await consumer.getmany(timeout_ms=50)).values():
                now = time.perf_counter()
                for r in records:
                    by_key[r.key].seen = now
                    left -= 1

    try:
        reading = asyncio.create_task(tail())
        started = time.perf_counter()
        lags = await steady(kafka, cmds, rate)
        await asyncio.wait_for(reading, 60)
        return Outcome(rate, cmds, started, lags)
    finally:
        await consumer.stop()


async def wait_until_read(dsn: str, schema: str, consumer: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(1200):
            with contextlib.suppress(asyncpg.UndefinedTableError):
                done = await conn.fetchval(
                    f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.consumer_positions"
                    " WHERE consumer = $1", consumer,
                )  # fmt: skip
                if done >= count:
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError("the projections never read the seed history")
    finally:
        await conn.close()


async def run(rates: list[float], seconds: float, residents: int) -> list[dict[str, Any]]:
    infra = InfraSettings()
    bootstrap, dsn = infra.kafka_bootstrap, infra.database_url("projections")
    topic = _topics(unique_name("bench.latency"))
    raw_topic = unique_name("bench.latency.raw")
    every = [*topic.values(), *(names.dlq(t) for t in topic.values()), raw_topic]
    await create_topics(bootstrap, every, partitions=6)
    h, wallets, ctx = city(residents)
    seed = [_record(e, topic) for e in h.events]
    runs = [commands(h, wallets, ctx, int(rate * seconds), topic, f"r{n}")
            for n, rate in enumerate(rates)]  # fmt: skip
    # The history and the commands live as long as the run: out of the collector's walks
    # (a full collection over them stalls this process, the poller and the raw reader, for
    # a fifth of a second; bench.projections found the same).
    gc.collect()
    gc.freeze()
    home = Path(tempfile.mkdtemp(prefix="kgo-bench-latency-"))
    name = unique_name("bench_latency")
    service = service_process("projections", home / "kgo", {
        "PROJECTIONS_WALLET_TOPIC": topic[names.WALLET],
        "PROJECTIONS_MISSIONS_TOPIC": topic[names.MISSIONS],
        "PROJECTIONS_MERCHANT_TOPIC": topic[names.MERCHANT],
        "PROJECTIONS_TRANSIT_TOPIC": topic[names.TRANSIT],
        "PROJECTIONS_CONSUMER_NAME": name,
    }, home)  # fmt: skip
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=1)
    out: list[dict[str, Any]] = []
    try:
        service.start()
        await kafka.start()
        await asyncio.gather(*await produce(kafka, seed))
        await wait_until_read(dsn, service.schema, name, len(seed))
        for rate, cmds in zip(rates, runs, strict=True):
            got = await run_rate(kafka, service, dsn, service.schema, cmds, rate)
            raw = await raw_rate(kafka, bootstrap, raw_topic, len(cmds), rate)
            out.append({"rate": rate, "seconds": seconds, "outcome": got, "raw": raw})
    finally:
        await kafka.stop()
        service.stop()
        service.drop_schema()
        await delete_topics(bootstrap, every)
    return out


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| offered /s | command | reached / sent | reached /s | p50 ms | p99 ms |"
             " raw p50 ms | raw p99 ms | send lag p99 ms | service CPU |",
             "|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in results:
        got, raw = r["outcome"], r["raw"].summary()
        lag = percentile(got.send_lag, 0.99) * 1000
        cpu = got.cpu_seconds / max(1e-9, r["seconds"])
        for kind in (*KINDS, None):
            s = got.summary(kind)
            lines.append(
                f"| {r['rate']:,.0f} | {kind or 'all'} | {s['reached']:,}/{s['commands']:,} |"
                f" {s['per_second']:,.0f} | {_ms(s['p50_ms'])} | {_ms(s['p99_ms'])} |"
                f" {_ms(raw['p50_ms'])} | {_ms(raw['p99_ms'])} | {lag:,.1f} | {cpu:.2f} cores |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200.0, 1000.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--residents", type=int, default=300)
    args = parser.parse_args()
    print(table(asyncio.run(run(args.rates, args.seconds, args.residents))))


if __name__ == "__main__":
    main()
