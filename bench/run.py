"""Run every measurement once on this machine, print the table and write BENCHMARKS.md.

uv run python -m bench.run            # under 3 minutes
uv run python -m bench.run --quick    # about 30 seconds, for a smoke check
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kgo_runtime.testing import fresh_schema
from services.wallet.settings import WalletSettings

from . import http, raw, wallet
from . import missions as missions_bench
from . import transit as transit_bench
from .machine import CpuMeter, machine_facts
from .measure import Sample
from .profile import WriterProfile
from .relay import RelayRun, relay_available, relay_events
from .report import format_table, render_markdown
from .results import RAW_AFTER, RAW_BEFORE, Memory, Report, Row

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32)
#: Scale-out: the HTTP spends again with this many `kgo serve wallet` processes on one port.
SCALE_WORKERS = (2, 4)
#: Steady offered rates of the open-loop HTTP rows (issue 17's p99 aim is at 1,000/s).
OPEN_RATES = (300, 1000)
#: Everything after this line in BENCHMARKS.md is written by hand and kept by a new run.
KEPT = "<!-- written by hand below this line; bench.run keeps it -->"


@dataclass(frozen=True)
class Plan:
    mode: str
    duration: float
    warmup: float
    residents: int
    shops: int
    kafka_records: int
    relay_notifications: int
    profile_seconds: float

    @property
    def grant_each(self) -> int:
        return 350_000 // self.residents  # leaves the budget enough for the grant runs


DEFAULT = Plan("default", 5.0, 1.0, 2000, 20, 150_000, 30_000, 3.0)
QUICK = Plan("quick", 0.8, 0.2, 300, 5, 20_000, 3_000, 0.0)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def say_row(row: Row) -> None:
    say(format_table([row]).splitlines()[-1])


def method(plan: Plan, relay_note: str | None, store: str) -> list[str]:
    relay = (
        f"Relay: `kgo_runtime.relay.Relay` moves the first {plan.relay_notifications:,} stored "
        "events of the spends run (receipts and identity claims are internal and skipped) to a "
        "fresh topic; ops/s counts records produced, held against the raw produce rate."
        if relay_note is None else f"Relay: not measured ({relay_note})."
    )  # fmt: skip
    return [
        f"One process, one run. Every closed-loop scenario warms up for {plan.warmup:g} s, then "
        f"counts the operations that finish within the next {plan.duration:g} s. Latency is per "
        "operation as the caller sees it; p50/p99 by nearest rank.",
        "Raw Postgres: asyncpg, N connections and N workers, each transaction one autocommit "
        "INSERT of a ~300-byte row (uuid + bytea) into a table with a bigserial primary key; "
        "measured first and again last, and every wallet row is held against the mean of the "
        "two at the same concurrency (on a shared machine the two can differ).",
        f"Wallet: `CommandBus` over the Postgres `WalletLedger` (eventsourcing 9.5; {store}; "
        "the ledger's own aggregate cache, warm after setup). Setup per schema: "
        f"genesis, one programme budget, {plan.shops} shops, {plan.residents:,} residents each "
        f"granted {plan.grant_each:,} coins. N callers each await `submit` in a loop with unique "
        "idempotency keys; spends pay 1 coin from a random resident to a random shop; grants "
        "pay 1 coin from the one programme budget (the hot account) to a random resident. "
        "Each command stores 3 events (two account entries and its receipt).",
        "'batched' is the bus as shipped (max_batch=256), on the wallet's own recorder (one "
        "round trip per batch, rows as binary arrays) and orjson transcoder; '1 per tx, stock "
        "store' is the same bus with max_batch=1 on eventsourcing's stock Postgres recorder "
        "and JSON transcoder, i.e. eventsourcing's usual one command per transaction.",
        "Each scenario family runs in its own fresh Postgres schema, dropped afterwards; "
        "Kafka scenarios use fresh 6-partition topics, deleted afterwards.",
        f"Raw Kafka: aiokafka producer (idempotent, acks=all, linger 5 ms), {plan.kafka_records:,} "
        "keyed ~400-byte records sent back to back; latency is send to ack. Consume: one "
        "consumer reading them all back from the start.",
        relay,
        "HTTP: a `kgo serve wallet` process on a schema and topic of its own (so its relay, "
        "directory and sweeper run as in production) takes 1-coin spends from wrk with N "
        "connections, each with its own idempotency key; wrk, the service, Postgres and Kafka "
        "share the same cores. Right after each of its runs the same wrk script, token header "
        "and connection count drive `bench.bare` (FastAPI + uvicorn, one process, validating "
        "the same body with the wallet's own `SpendRequest` model and answering 201, nothing "
        "else): the framework's ceiling, which the wallet's HTTP rows are held against (their "
        "raw ops/s and ratio columns). For these rows the CPU column is the server's CPU per "
        "request (user + system, all its threads and processes, from /proc), so the wallet's "
        "includes its writer thread, relay, directory and sweeper."
        + _not_measured(http.wrk_available()),
        "Transit (full run, with vegeta): `bench.transit`'s open loop, a `kgo serve wallet` "
        "and a `kgo serve transit` on schemas and topics of their own, 1,000 taps a second "
        f"offered for {plan.duration:g} s by 400 riders, each tap timed until its answer and "
        "until its `FarePaid` is read from Kafka and until its fare is in the read model of a "
        "`kgo serve projections` reading the run's topics (the end to end of a validator's "
        "tap; the projections' leg alone: `bench.latency`).",
        "Missions' consumer: `bench.missions` (first-ride facts on a topic of its own through "
        "the real batched `IdempotentConsumer` into the Postgres missions store), held against "
        "a plain aiokafka consumer reading the same topic just before it.",
        "Memory: peak RSS of this process (getrusage); bytes per cached aggregate measured "
        "with tracemalloc by loading 1,000 of them into an empty cache.",
    ]


def _not_measured(reason: str | None) -> str:
    return f" Not measured in this run: {reason}." if reason else ""


def wallet_row(scenario: str, run: wallet.BusRun, raw_rate: float | None, batched: bool) -> Row:
    s = run.sample
    return Row(
        scenario, s.concurrency, s.rate, s.percentile_ms(0.5), s.percentile_ms(0.99),
        raw_rate=raw_rate, mean_batch=run.mean_batch, writer_busy=run.writer_busy,
        cpu_us=run.cpu_us_per_command, wallet=batched, errors=s.errors,
    )  # fmt: skip


@dataclass
class Findings:
    """What the wallet families found besides their rows."""

    bootstrap: str
    store: str = ""
    profiles: list[str] = field(default_factory=list)
    cache: wallet.Footprint = (None, None, None)
    relay: RelayRun | None = None
    relay_note: str | None = None


async def wallet_family(
    plan: Plan, dsn: str, op: str, max_batch: int, raw_rates: dict[int, float], found: Findings
) -> list[Row]:
    """One fresh schema: build the world, load it at each concurrency, then (batched only)
    profile the writer and (batched spends only) weigh the cache and relay the events."""
    batched = max_batch > 1
    label = f"wallet {op}s ({'batched' if batched else '1 per tx, stock store'})"
    rows: list[Row] = []
    async with fresh_schema(dsn, f"bench_{op}_{max_batch}") as schema:
        world = await asyncio.to_thread(
            wallet.build_world, schema, residents=plan.residents, shops=plan.shops,
            allocate=900_000, grant_each=plan.grant_each, stock_store=not batched,
        )  # fmt: skip
        found.store = wallet.store_config(world.ledger)
        try:
            make = (wallet.spend_factory if op == "spend" else wallet.grant_factory)(world)
            for n in CONCURRENCY:
                run = await wallet.through_bus(
                    world, make, tag=f"{op}{max_batch}c{n}", concurrency=n,
                    duration=plan.duration, warmup=plan.warmup, max_batch=max_batch,
                )  # fmt: skip
                rows.append(wallet_row(label, run, raw_rates.get(n), batched))
                say_row(rows[-1])
            if batched and plan.profile_seconds:
                prof = WriterProfile()
                with wallet.wrapping_execute(world.ledger, prof.wrap):
                    run = await wallet.through_bus(
                        world, make, tag=f"{op}prof", concurrency=32,
                        duration=plan.profile_seconds, warmup=0, max_batch=max_batch,
                    )  # fmt: skip
                found.profiles.append(f"{label}, 32 callers:\n" + prof.summary(run.sample.ops))
            if batched and op == "spend":
                found.cache = await wallet.cache_footprint(world)
                found.relay_note = relay_available()
                if found.relay_note is None:
                    found.relay = await relay_events(
                        world.ledger, dsn=dsn, schema=schema, bootstrap=found.bootstrap,
                        notifications=plan.relay_notifications,
                    )  # fmt: skip
        finally:
            await asyncio.to_thread(world.close)
    return rows


async def raw_postgres(plan: Plan, dsn: str, scenario: str) -> list[Row]:
    rows: list[Row] = []
    async with fresh_schema(dsn, "bench_raw") as schema:
        for n in CONCURRENCY:
            s = await raw.postgres_inserts(
                dsn, schema, concurrency=n, duration=plan.duration, warmup=plan.warmup
            )
            rows.append(Row(scenario, n, s.rate, s.percentile_ms(0.5), s.percentile_ms(0.99)))
            say_row(rows[-1])
    return rows


async def raw_kafka(plan: Plan, bootstrap: str) -> tuple[Row, Row]:
    async with raw.fresh_topic(bootstrap, "raw") as topic:
        produced = await raw.kafka_produce(bootstrap, topic, plan.kafka_records, warmup=2000)
        consumed = await raw.kafka_consume(bootstrap, topic, plan.kafka_records + 2000)
    lat = Sample(1, produced.count, produced.seconds, produced.latencies)
    p50, p99 = lat.percentile_ms(0.5), lat.percentile_ms(0.99)
    return (
        Row("kafka produce (raw)", 1, produced.rate, p50, p99),
        Row("kafka consume (raw)", 1, consumed.rate),
    )


def with_raw_rates(rows: list[Row], before: list[Row], after: list[Row]) -> list[Row]:
    """Hold each row against the mean raw rate of the runs before and after it."""
    mean = {
        b.concurrency: (b.rate + a.rate) / 2
        for b, a in zip(before, after, strict=True)
    }  # fmt: skip
    return [replace(r, raw_rate=mean.get(r.concurrency, r.raw_rate)) for r in rows]


def with_bare_rates(rows: list[Row]) -> list[Row]:
    """Each wallet HTTP row is held against the bare framework's row measured right after it
    (same connections, same number of processes); bare rows are held against nothing."""
    out: list[Row] = []
    for r in rows:
        if r.scenario.startswith(http.BARE):
            if out and out[-1].scenario.startswith(http.SCENARIO):
                out[-1] = replace(out[-1], raw_rate=r.rate)
            r = replace(r, raw_rate=None)
        out.append(r)
    return out


async def main(plan: Plan, output: Path) -> Report:
    settings = WalletSettings()
    dsn, bootstrap = settings.database_url, settings.kafka_bootstrap
    started = time.perf_counter()
    version, data_dir = await raw.server_facts(dsn)
    facts = machine_facts(version)
    meter = CpuMeter(data_dir)

    say("raw Postgres single-row insert transactions ...")
    before = await raw_postgres(plan, dsn, RAW_BEFORE)
    raw_rates = {r.concurrency: r.rate for r in before}
    say("raw Kafka produce and consume ...")
    produce, consume = await raw_kafka(plan, bootstrap)

    found = Findings(bootstrap)
    measured: list[Row] = []
    for op in ("spend", "grant"):
        for max_batch in (256, 1):
            say(f"wallet {op}s, max_batch={max_batch} ...")
            measured += await wallet_family(plan, dsn, op, max_batch, raw_rates, found)

    http_note = http.wrk_available()
    if http_note is None:
        say("wallet spends over HTTP (a `kgo serve wallet` process, wrk) ...")
        measured += await http.http_spends(
            settings, CONCURRENCY, residents=min(plan.residents, 500), duration=plan.duration
        )
        if plan.mode == "default":
            rates = OPEN_RATES if http.vegeta_binary() is not None else ()
            say(
                "... again with the background components in a process of their own "
                f"(WALLET_BACKGROUND_PROCESS){', open loop at 300 and 1,000/s' if rates else ''}"
            )
            measured += await http.http_spends(
                settings, CONCURRENCY, residents=min(plan.residents, 500), duration=plan.duration,
                background_apart=True, open_rates=rates,
            )  # fmt: skip
        for workers in SCALE_WORKERS if plan.mode == "default" else ():
            say(f"... again with {workers} HTTP processes (WALLET_HTTP_WORKERS), 32 connections")
            measured += await http.http_spends(
                settings, (32,), residents=min(plan.residents, 500), duration=plan.duration,
                workers=workers,
            )  # fmt: skip
    if plan.mode == "default" and http.vegeta_binary() is not None:
        say(
            "transit taps at a steady 1,000/s (vegeta), each until its FarePaid is on Kafka "
            "and its fare in the read model ..."
        )
        measured += await transit_bench.measure(
            duration=plan.duration, concurrencies=(), riders=transit_bench.OPEN_RIDERS, batch=0,
            open_rates=(1_000,),
        )  # fmt: skip
    records = 10_000 if plan.mode == "default" else 1_000
    say(f"missions' consumer, batched as the service runs it ({records:,} first rides) ...")
    consumer = await missions_bench.run(records)
    say("raw Postgres again, to see how the machine drifted ...")
    after = await raw_postgres(plan, dsn, RAW_AFTER)
    rows = [*before, *after, *with_bare_rates(with_raw_rates(measured, before, after))]
    rows.append(produce)
    if found.relay is not None:
        name = f"relay: wallet events -> kafka ({found.relay.published:,} records)"
        rows.append(Row(name, 1, found.relay.rate, raw_rate=produce.rate))
    rows.append(consume)
    rows.append(
        Row(
            f"missions consumer, batched ({records:,} records)", 1,
            consumer["consumer_records_per_s"], raw_rate=consumer["raw_consume_per_s"],
        )
    )  # fmt: skip
    entries, per_account, per_receipt = found.cache
    memory = Memory(
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        cache_entries=entries, bytes_per_account=per_account, bytes_per_receipt=per_receipt,
        cache_size=settings.cache_size,
    )  # fmt: skip
    cpu = meter.stop()
    facts = replace(
        facts, load=(facts.load[0], os.getloadavg()[0]),
        stack_cores=cpu.stack_cores, others_cores=cpu.others_cores,
    )  # fmt: skip
    report = Report(
        facts, rows, memory, method(plan, found.relay_note, found.store), plan.mode,
        "\n\n".join(found.profiles) or None,
    )  # fmt: skip
    kept = output.read_text().partition(KEPT) if output.exists() else ("", "", "")
    output.write_text(render_markdown(report) + (f"\n{KEPT}{kept[2]}" if kept[1] else ""))
    print(format_table(rows))
    say(f"done in {time.perf_counter() - started:.0f} s; wrote {output}")
    return report


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (~30 s), no profile")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile stint")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else DEFAULT
    if args.no_profile:
        plan = Plan(**{**plan.__dict__, "profile_seconds": 0.0})
    asyncio.run(main(plan, args.output))


if __name__ == "__main__":
    cli()
