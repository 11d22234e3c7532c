"""The city bus under load: taps per second through the transit API beside the wallet's own
spend rate (the same spend, by transit pass, straight to the wallet), taps at a steady offered
rate (open loop, vegeta) with the latency of each tap until its ``FarePaid`` is on Kafka and
until its fare is in the read model of a real `kgo serve projections`, and one offline batch
of 10,000 taps.

Real `kgo serve wallet` and `kgo serve transit` processes, each on a Postgres schema and a
Kafka topic of its own, driven by wrk (one validator, random riders, every tap a new tap id at
a random time inside a benchmark campaign, so nearly every tap is a coin fare: the full path,
transit's judge and record around the wallet's spend). Client, both services, Postgres and
Kafka share the machine's cores.

    uv run python -m bench.transit [--quick] [--open-rate 500,1000] [--no-read-model]
        [--output BENCHMARKS-transit.md]

The open loop needs vegeta (``go install github.com/tsenart/vegeta/v12@v12.13.0``); without it
those rows are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from bench.http import (
    _free_port,
    _post,
    _token,
    parse_vegeta,
    parse_wrk,
    thai_national_id,
    vegeta_attack,
    vegeta_binary,
    wallet_process,
)
from bench.latency import wait_until_read
from bench.measure import percentile
from bench.raw import postgres_insert_rates
from bench.report import markdown_table
from bench.results import Row
from kgo_contracts import topics as names
from kgo_runtime.access import AccessSigner, Role, signing_key
from kgo_runtime.clock import BANGKOK
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.transit.domain.ids import trip_id
from services.transit.settings import TransitSettings
from services.wallet.domain.ids import payee_id
from services.wallet.settings import WalletSettings
from tests.e2e.platform import service_process

TAPS = "transit taps over HTTP (wrk)"
SPENDS = "wallet spends by transit pass over HTTP (wrk)"
BATCH = "transit offline batch of {size:,} taps (one request)"
OPEN = "transit taps over HTTP, open loop (vegeta)"
PUBLISHED = "transit tap -> its FarePaid on Kafka, open loop"
READ_MODEL = "transit tap -> its fare in the read model (projections), open loop"
#: The validator of the online taps (trip ids are made from it and the tap id).
ONLINE_VALIDATOR = "v1"
#: Riders of the open loop: a city's riders tap a few times a day, not many times a second
#: (with a handful of riders every chunk would hold the same passes).
OPEN_RIDERS = 400
RAW = "raw PostgreSQL single-row insert transactions (same run)"
CAMPAIGN_START = datetime(2030, 1, 1, tzinfo=BANGKOK)


@asynccontextmanager
async def transit_process(wallet_url: str, token: str) -> AsyncIterator[tuple[str, str, str]]:
    """A `kgo serve transit` on a schema and topics of its own; yields its URL, the
    operator's account id at the wallet, and its events topic."""
    settings = TransitSettings()
    schema, topic, port = unique_name("bench_transit"), unique_name("bench.transit"), _free_port()
    wallet_topic = f"{topic}.wallet"  # nothing to recover in a benchmark
    await create_topics(settings.kafka_bootstrap, [topic, wallet_topic], partitions=6)
    env = {
        **os.environ,
        "TRANSIT_DATABASE_SCHEMA": schema,
        "TRANSIT_EVENTS_TOPIC": topic,
        "TRANSIT_WALLET_TOPIC": wallet_topic,
        "TRANSIT_WALLET_URL": wallet_url,
        "TRANSIT_WALLET_TOKEN": token,
        "TRANSIT_HTTP_PORT": str(port),
        "TRANSIT_LOG_LEVEL": "WARNING",
        "TRANSIT_OPERATOR_REF": schema,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kgo_cli.main", "serve", "transit"], env=env, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as probe:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("transit did not become ready")
                await asyncio.sleep(0.3)
        yield url, str(payee_id("operator", schema)), topic
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()
        await delete_topics(settings.kafka_bootstrap, [topic, wallet_topic])


@asynccontextmanager
async def projections_process(wallet_topic: str, transit_topic: str) -> AsyncIterator[str]:
    """A `kgo serve projections` on a schema of its own, reading this run's wallet and transit
    topics (and empty missions, merchant and digests topics) from their start; yields its
    schema once it has read everything already on them."""
    infra = InfraSettings()
    base = unique_name("bench.transit.e2e")
    empty = {"MISSIONS": f"{base}.missions", "MERCHANT": f"{base}.merchant",
             "DIGESTS": f"{base}.digests"}  # fmt: skip
    read = [wallet_topic, transit_topic, *empty.values()]
    made = [*empty.values(), *(names.dlq(t) for t in read)]
    await create_topics(infra.kafka_bootstrap, made, partitions=6)
    home = Path(tempfile.mkdtemp(prefix="kgo-bench-transit-"))
    consumer = unique_name("bench_transit_e2e")
    service = service_process("projections", home / "kgo", {
        "PROJECTIONS_WALLET_TOPIC": wallet_topic, "PROJECTIONS_TRANSIT_TOPIC": transit_topic,
        **{f"PROJECTIONS_{k}_TOPIC": v for k, v in empty.items()},
        "PROJECTIONS_CONSUMER_NAME": consumer, "PROJECTIONS_LOG_LEVEL": "WARNING",
    }, home)  # fmt: skip
    try:
        await asyncio.to_thread(service.start)
        await _caught_up(infra, service.schema, consumer, read)
        yield service.schema
    finally:
        await asyncio.to_thread(service.stop)
        await asyncio.to_thread(service.drop_schema)
        await delete_topics(infra.kafka_bootstrap, made)


async def _caught_up(infra: InfraSettings, schema: str, consumer: str, topics: list[str]) -> None:
    """Until ``consumer``'s positions in ``schema`` reach the end of every partition (their
    sum reaches the sum of the ends: no position passes its end)."""
    probe = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap)
    await probe.start()
    try:
        partitions = [tp for t in topics for tp in await topic_partitions(infra.kafka_bootstrap, t)]
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    await wait_until_read(infra.database_url("projections"), schema, consumer, sum(ends.values()))


async def _in_read_model(
    schema: str, trips: Sequence[UUID], rate: int, started: float, seen: dict[UUID, float],
    until: float,
) -> None:  # fmt: skip
    """The wall-clock time each of ``trips`` (sent in that order at ``rate`` a second from
    ``started``) first had its fare in the projections' read model, asked every 10 ms."""
    conn = await asyncpg.connect(InfraSettings().database_url("projections"))
    # Probed by the primary key, one lookup per trip waited for, whatever the table's size.
    sql = (
        f"SELECT f.trip_id FROM unnest($1::uuid[]) AS w(trip_id)"
        f" JOIN {schema}.fares AS f ON f.trip_id = w.trip_id"
    )
    waiting: set[UUID] = set()
    i = 0
    try:
        while (i < len(trips) or waiting) and time.time() < until:
            now = time.time()
            while i < len(trips) and started + i / rate <= now:
                waiting.add(trips[i])
                i += 1
            if waiting:
                rows = await conn.fetch(sql, list(waiting))
                found = time.time()
                for row in rows:
                    seen[row[0]] = found
                    waiting.discard(row[0])
            await asyncio.sleep(0.010)
    finally:
        await conn.close()


async def _riders(api: httpx.AsyncClient, wallet_url: str, count: int) -> list[str]:
    """``count`` residents with 2,000 coins each and a linked pass; their passes (made 16 at
    a time)."""
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> str:
        async with gate:
            return await _rider(api, wallet_url, i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _rider(api: httpx.AsyncClient, wallet_url: str, i: int) -> str:
    """Resident ``i``, registered, granted 2,000 coins, with a linked pass: the pass."""
    resident = await _post(
        api, "/v1/residents", {"national_id": thai_national_id(i), "phone": f"08{i:08d}"}
    )
    wallet_id = str(resident["wallet_id"])
    await _post(api, "/v1/grants", {
        "programme": "bench", "wallet_id": wallet_id, "amount": 2_000,
        "reason": "benchmark", "reference": f"r{i}",
    })  # fmt: skip
    signer = AccessSigner(signing_key())
    token = signer.issue(Role.RESIDENT, "bench", wallet_id, timedelta(minutes=30)).token
    async with httpx.AsyncClient(
        base_url=wallet_url, headers={"Authorization": f"Bearer {token}"}
    ) as resident_api:
        linked = await _post(resident_api, "/v1/transit-passes", {})
    return str(linked["pass"])


def _lua_list(items: Sequence[str]) -> str:
    return "{" + ",".join(f'"{item}"' for item in items) + "}"


def _tap_script(passes: Sequence[str]) -> str:
    """Taps by random riders at random times of the benchmark campaign, each its own id."""
    start = int(CAMPAIGN_START.timestamp())
    return f"""
local passes = {_lua_list(passes)}
local id, counter = "", 0
function init(args)
  id = tostring({{}}):gsub("table: ", "") .. "-" .. tostring(os.time())
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
end
request = function()
  counter = counter + 1
  local tap = id .. "-" .. counter
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", {start} + math.random(0, 300000000))
  local body = string.format('{{"tap_id":"%s","pass":"%s","tapped_at":"%s"}}',
    tap, passes[math.random(#passes)], at)
  wrk.headers["Idempotency-Key"] = tap
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/v1/taps", nil, body)
end
"""


def _spend_script(passes: Sequence[str], operator_id: str) -> str:
    """The same 1-coin fare, straight to the wallet as transit sends it."""
    return f"""
local passes = {_lua_list(passes)}
local id, counter = "", 0
function init(args)
  id = tostring({{}}):gsub("table: ", "") .. "-" .. tostring(os.time())
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{{"payee_id":"{operator_id}","amount":1,"reference":"%s-%d",' ..
    '"authorisation":{{"kind":"transit_pass","pass":"%s"}}}}',
    id, counter, passes[math.random(#passes)])
  wrk.headers["Idempotency-Key"] = id .. "-" .. counter
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/v1/spends", nil, body)
end
"""


def _wrk(
    scenario: str, url: str, token: str, script: str, connections: int, duration: float
) -> Row:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{max(1, round(duration))}s",
             "--latency", "-s", handle.name, "-H", f"Authorization: Bearer {token}", url],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    row = parse_wrk(done.stdout, connections)
    return Row(scenario, connections, row.rate, row.p50_ms, row.p99_ms, errors=row.errors)


async def _open_loop(
    url: str, credential: str, passes: Sequence[str], rate: int, duration: float, topic: str,
    read_model: str | None = None,
) -> list[Row]:  # fmt: skip
    """vegeta offering ``rate`` taps a second for ``duration`` whatever the answers take (a
    city's validators do not wait for each other), random riders of ``passes`` at random
    campaign times, each tap its own id; and a consumer of transit's topic timing each tap
    from the moment vegeta sent it until its ``FarePaid`` was read from Kafka (what a
    subscriber, the projections among them, can act on). With ``read_model`` (the schema of
    a projections process reading this run's topics), each tap is also timed until its fare
    is in that read model: the whole way, through transit, the wallet, Kafka and the
    projections."""
    vegeta = vegeta_binary()
    assert vegeta is not None
    run = uuid4().hex[:8]
    start = int(CAMPAIGN_START.timestamp())
    count = int(rate * duration)
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
        for i in range(count):
            tap_id = f"open-{run}-{i}"
            at = datetime.fromtimestamp(start + random.randint(0, 300_000_000), BANGKOK)
            body = orjson.dumps(
                {"tap_id": tap_id, "pass": random.choice(passes), "tapped_at": at.isoformat()}
            )
            target = {
                "method": "POST", "url": f"{url}/v1/taps", "body": base64.b64encode(body).decode(),
                "header": {
                    "Authorization": [f"Bearer {credential}"],
                    "Content-Type": ["application/json"], "Idempotency-Key": [tap_id],
                },
            }  # fmt: skip
            handle.write(orjson.dumps(target) + b"\n")
    seen: dict[str, float] = {}
    in_model: dict[UUID, float] = {}
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=TransitSettings().kafka_bootstrap, auto_offset_reset="latest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        await consumer.seek_to_end()
        reading = asyncio.create_task(_read_fares(consumer, f"open-{run}-", seen))
        watching = None
        if read_model is not None:
            trips = [trip_id(ONLINE_VALIDATOR, f"open-{run}-{i}") for i in range(count)]
            started = time.time()
            watching = asyncio.create_task(_in_read_model(
                read_model, trips, rate, started, in_model, started + duration + 10,
            ))  # fmt: skip
        try:
            results = await vegeta_attack(handle.name, rate, duration)
            await asyncio.sleep(2.0)  # the last taps' fares reach the topic
        finally:
            reading.cancel()
        if watching is not None:
            await watching
    finally:
        os.unlink(handle.name)
        await consumer.stop()
    report = subprocess.run(
        [vegeta, "report", "-type=json"], input=results, capture_output=True, check=True
    )
    answered = parse_vegeta(report.stdout, rate, OPEN)
    encoded = subprocess.run(
        [vegeta, "encode", "--to", "json"], input=results, capture_output=True, check=True
    )
    latencies: list[float] = []
    whole_way: list[float] = []
    paid = 0
    for line in encoded.stdout.splitlines():
        result = orjson.loads(line)
        if result.get("code") != 201:
            continue
        paid += 1
        tap_id = orjson.loads(base64.b64decode(result["body"])).get("tap_id")
        sent = _epoch(result["timestamp"])
        if tap_id in seen:
            latencies.append((seen[tap_id] - sent) * 1000)
        trip = trip_id(ONLINE_VALIDATOR, str(tap_id))
        if trip in in_model:
            whole_way.append((in_model[trip] - sent) * 1000)
    rows = [answered, _latency_row(PUBLISHED, rate, duration, latencies, paid)]
    if read_model is not None:
        rows.append(_latency_row(READ_MODEL, rate, duration, whole_way, paid))
    return rows


def _latency_row(
    scenario: str, rate: int, duration: float, latencies: list[float], paid: int
) -> Row:
    """A row of per-tap latencies (ms); errors: paid taps never seen."""
    latencies.sort()
    return Row(
        scenario, rate, len(latencies) / duration,
        percentile(latencies, 0.5) if latencies else None,
        percentile(latencies, 0.99) if latencies else None,
        errors=paid - len(latencies),
    )  # fmt: skip


async def _read_fares(consumer: AIOKafkaConsumer, prefix: str, seen: dict[str, float]) -> None:
    """The wall-clock time each tap of this run (its id starts with ``prefix``) had its
    ``FarePaid`` read."""
    while True:
        batches = await consumer.getmany(timeout_ms=100)
        now = time.time()
        for records in batches.values():
            for record in records:
                if record.value is None or b"FarePaid" not in dict(record.headers).get(
                    "ce_type", b""
                ):
                    continue
                tap_id = orjson.loads(record.value).get("tap_id")
                if isinstance(tap_id, str) and tap_id.startswith(prefix):
                    seen.setdefault(tap_id, now)


def _epoch(stamp: str) -> float:
    """vegeta's RFC 3339 time (nanoseconds) as seconds since the epoch."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


async def _batch(url: str, credential: str, passes: Sequence[str], size: int) -> Row:
    """One offline upload of ``size`` taps (riders' taps spread over the campaign)."""
    taps = [
        {
            "tap_id": f"offline-{n}",
            "pass": passes[n % len(passes)],
            "tapped_at": (CAMPAIGN_START + timedelta(minutes=10 * n)).isoformat(),
        }
        for n in range(size)
    ]
    headers = {"Authorization": f"Bearer {credential}", "Idempotency-Key": uuid4().hex}
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        began = time.perf_counter()
        answer = await client.post("/v1/taps/batch", json={"taps": taps}, headers=headers)
        seconds = time.perf_counter() - began
    answer.raise_for_status()
    body = answer.json()
    errors = body["pending"] + sum(1 for r in body["results"] if r["status"] != "paid")
    return Row(BATCH.format(size=size), 1, size / seconds, seconds * 1000, None, errors=errors)


async def measure(
    *,  # batch 0: no offline batch; no concurrencies: no closed loop, nor its raw rates
    duration: float,
    concurrencies: Sequence[int],
    riders: int,
    batch: int,
    open_rates: Sequence[int] = (),
    read_model: bool = True,
) -> list[Row]:
    wallet_settings = WalletSettings()
    async with wallet_process(wallet_settings) as (wallet_url, wallet_schema, _pid, wallet_topic):
        admin = await _token(wallet_settings, wallet_schema, "municipal_admin")
        service = await _token(wallet_settings, wallet_schema, "service")
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=wallet_url, headers=headers, timeout=60) as api:
            await _post(api, "/v1/treasury/genesis", {})
            await _post(api, "/v1/budgets", {"programme": "bench", "label": "Benchmark"})
            await _post(api, "/v1/budgets/bench/allocations", {"amount": 900_000})
            api.headers["Authorization"] = f"Bearer {service}"
            passes = await _riders(api, wallet_url, max(riders, OPEN_RIDERS if open_rates else 0))
        async with transit_process(wallet_url, service) as (transit_url, operator_id, topic):
            async with httpx.AsyncClient(base_url=transit_url, headers=headers, timeout=60) as t:
                await _post(t, "/v1/routes", {"route_id": "kk-1", "name": "Loop", "length_km": 17})
                await _post(t, "/v1/buses", {"bus_id": "kkb-01", "route_id": "kk-1"})
                await _post(t, "/v1/buses", {"bus_id": "kkb-02", "route_id": "kk-1"})
                await _post(t, "/v1/campaigns", {
                    "campaign_id": "bench", "starts_at": CAMPAIGN_START.isoformat(),
                    "ends_at": (CAMPAIGN_START + timedelta(days=36_500)).isoformat(),
                    "coins": 1, "baht_satang": 100, "programme": "bench",
                })  # fmt: skip
                online = await _post(
                    t, "/v1/validators", {"validator_id": ONLINE_VALIDATOR, "bus_id": "kkb-01"}
                )
                offline = await _post(
                    t, "/v1/validators", {"validator_id": "v2", "bus_id": "kkb-02"}
                )
                network = (await t.get("/v1/network")).json()
            rows = []
            closed = passes[:riders]
            for n in concurrencies:
                rows.append(await asyncio.to_thread(
                    _wrk, TAPS, transit_url, str(online["credential"]), _tap_script(closed), n,
                    duration,
                ))  # fmt: skip
                rows.append(await asyncio.to_thread(
                    _wrk, SPENDS, wallet_url, service, _spend_script(closed, operator_id), n,
                    duration,
                ))  # fmt: skip
            if open_rates:
                async with contextlib.AsyncExitStack() as stack:
                    schema = None
                    if read_model:  # started after the closed loop, stopped before the batch
                        schema = await stack.enter_async_context(
                            projections_process(wallet_topic, topic)
                        )
                    for rate in open_rates:
                        rows += await _open_loop(
                            transit_url, str(online["credential"]), passes, rate, duration,
                            topic, schema,
                        )  # fmt: skip
            if batch:
                rows.append(await _batch(transit_url, str(offline["credential"]), closed, batch))
            assert network["campaigns"]
    # The machine's raw limit in the same run, once the services are stopped.
    if not concurrencies:
        return rows
    raw = await postgres_insert_rates(
        wallet_settings.database_url, concurrencies, duration=duration
    )
    held = [replace(r, raw_rate=raw[r.concurrency].rate) if r.concurrency in raw else r
            for r in rows]  # fmt: skip
    return held + [
        Row(RAW, n, s.rate, s.percentile_ms(0.5), s.percentile_ms(0.99)) for n, s in raw.items()
    ]


def render(rows: Sequence[Row], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            "# Transit benchmarks",
            "",
            f"Run {datetime.now(BANGKOK):%Y-%m-%d %H:%M} (+07:00) on {os.cpu_count()} cores, "
            f"{args.duration:.0f} s per wrk run, {args.riders} riders "
            "(`uv run python -m bench.transit`).",
            "",
            f"Load average before the run: {args.load:.1f} on {os.cpu_count()} cores (the machine",
            "is shared: every number below is what was left for this stack).",
            "",
            "Taps: one validator (`kgo_val_` credential), random riders, each tap a new tap id",
            "at a random time inside a campaign of 1 coin + 1 baht, no cap: each is judged, asks",
            "the wallet for the coins and is recorded (`FarePaid`). Wallet spends: the same fare",
            "sent straight to the wallet with the `transit_pass` authorisation, as transit does.",
            f"The batch: one `POST /v1/taps/batch` of {args.batch:,} offline taps (p50: its",
            "seconds in ms; errors: taps not paid). Raw: single-row PostgreSQL insert",
            "transactions at the same concurrency, measured in the same run once the services",
            "stopped (`bench.raw`); `raw ops/s` and `ratio` hold each row against it.",
            "Open loop: vegeta offers the rate in the concurrency column for "
            f"{args.duration:.0f} s whatever",
            f"the answers take, random riders of {OPEN_RIDERS} (ops/s: taps answered 201 a "
            "second; errors: the",
            "others, timeouts at 10 s included); the row after it times each paid tap from its",
            "sending to its `FarePaid` read from transit's topic by a consumer of this run",
            "(errors: paid taps whose fare was not read within 2 s of the end), and the row",
            "after that (unless `--no-read-model`) until its fare is in the read model of a",
            "`kgo serve projections` reading this run's wallet and transit topics, asked every",
            "10 ms (errors: paid taps not there 10 s after the end): the whole way of a tap.",
            "The projections' leg alone (topic -> read model) is `bench.latency`'s.",
            "",
            markdown_table(rows),
            "",
        ]
    )


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.transit")
    parser.add_argument("--quick", action="store_true", help="short runs, a batch of 1,000")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "BENCHMARKS-transit.md")
    parser.add_argument(
        "--open-rate", default=None,
        help="open-loop tap rates a second (vegeta), e.g. 500,1000; default 500 (quick) or "
        "500,1000, none without vegeta",
    )  # fmt: skip
    parser.add_argument(
        "--no-read-model", dest="read_model", action="store_false",
        help="leave out the open loop's last leg (a projections process reading the run's "
        "topics, each tap timed until its fare is in the read model)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.duration = 5.0 if args.quick else 15.0
    args.load = os.getloadavg()[0]
    args.riders = 50 if args.quick else 200
    concurrencies = (8,) if args.quick else (8, 32)
    batch = args.batch = 1_000 if args.quick else 10_000
    rates = args.open_rate if args.open_rate is not None else ("500" if args.quick else "500,1000")
    open_rates = [int(r) for r in rates.split(",") if r] if vegeta_binary() else []
    rows = asyncio.run(
        measure(
            duration=args.duration,
            concurrencies=concurrencies,
            riders=args.riders,
            batch=batch,
            open_rates=open_rates,
            read_model=args.read_model,
        )
    )
    text = render(rows, args)
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    cli()
