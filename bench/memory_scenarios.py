"""The services' states of N residents for bench.memory, each made through the service's own
entry points (see bench/memory.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench.http import _token
from bench.memory import (
    INFRA,
    WARM_UP,
    Load,
    Measured,
    Served,
    consumed,
    in_parallel,
    post,
    serve,
    settled_rss,
)
from bench.memory_wallet import WALLET_TOPICS, WalletSeeder, treasury
from bench.raw import producer
from kgo_contracts.base import BANGKOK
from kgo_contracts.transit import FarePaid
from kgo_runtime.envelope import OutgoingRecord, encode
from kgo_runtime.producing import produce
from services.wallet.settings import WalletSettings


async def wallet(n: int, load: Load) -> Measured:
    """Residents registered by the wallet's command layer, then each granted coins over the
    served wallet's HTTP API (its writer caches every account it touches)."""
    consumer = {"WALLET_MISSIONS_CONSUMER": f"bench_mem_{uuid.uuid4().hex[:8]}"}
    async with serve("wallet", WALLET_TOPICS, consumer) as served:
        settings = WalletSettings(database_schema=served.schema)
        admin = await _token(settings, served.schema, "municipal_admin")
        service = await _token(settings, served.schema, "service")
        limits = httpx.Limits(max_connections=load.concurrency, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=120) as api:
            await treasury(api, admin)
            wallets: list[str] = [""] * (WARM_UP + n)

            async def grant(i: int) -> None:
                await post(api, "/v1/grants", {
                    "programme": "bench", "wallet_id": wallets[i], "amount": 5,
                    "reason": "benchmark", "reference": f"r{i}",
                }, service)  # fmt: skip

            began = time.monotonic()
            async with WalletSeeder(settings) as seeder:

                async def register(i: int) -> None:
                    wallets[i] = await seeder.register(i)

                await in_parallel(WARM_UP + n, 200, register)
            registered = time.monotonic() - began
            await in_parallel(WARM_UP, load.concurrency, grant)
            empty = await settled_rss(served.pid)
            began = time.monotonic()
            await in_parallel(n, load.concurrency, lambda i: grant(WARM_UP + i))
            seconds = time.monotonic() - began
        full = await settled_rss(served.pid)
    return Measured(
        "wallet",
        n,
        empty,
        full,
        seconds,
        f"registered by its command layer ({registered:,.0f} s), granted over HTTP,"
        f" {load.concurrency} callers",
        "the writer's cache of accounts (WALLET_CACHE_SIZE 200,000)",
    )


FARES_AT = datetime(2030, 1, 1, 7, 0, tzinfo=BANGKOK)
FIRST_RIDE = {
    "code": "first-ride", "title_th": "นั่งรถเมล์ครั้งแรก", "title_en": "First ride",
    "reward": 20, "starts_at": (FARES_AT - timedelta(days=1)).isoformat(), "period": "once",
    "limit": 1, "campaign": "city-life", "programme": "welcome",
    "rule": {"kind": "first_time", "event": "fare_paid"},
}  # fmt: skip
MISSIONS_TOPICS = ("EVENTS_TOPIC", "WALLET_TOPIC", "MERCHANT_TOPIC", "TRANSIT_TOPIC")


async def missions(n: int, _load: Load) -> Measured:
    """A first-ride mission, then one FarePaid per resident through missions' consumer."""
    from services.missions.adapters.event_store import open_missions
    from services.missions.application import commands as c
    from services.missions.settings import MissionsSettings

    async with serve("missions", MISSIONS_TOPICS) as served:
        settings = MissionsSettings(database_schema=served.schema)
        store = await asyncio.to_thread(open_missions, settings)
        try:
            await asyncio.to_thread(
                store.execute,
                c.PublishMission(
                    idempotency_key="bench", caller="bench", at=FARES_AT, spec=FIRST_RIDE
                ),
            )
        finally:
            await asyncio.to_thread(store.close)
        topic = served.topics["TRANSIT_TOPIC"]
        dsn = INFRA.database_url("missions")
        await _fares(topic, 0, WARM_UP)
        await consumed(dsn, served.schema, "missions", 2 * WARM_UP, timeout=300)
        empty = await settled_rss(served.pid)
        began = time.monotonic()
        await _fares(topic, WARM_UP, n)
        await consumed(dsn, served.schema, "missions", 2 * (WARM_UP + n), timeout=7200)
        seconds = time.monotonic() - began
        full = await settled_rss(served.pid)
    return Measured(
        "missions",
        n,
        empty,
        full,
        seconds,
        "2 FarePaid each on Kafka, its consumer",
        "the cached progress (MISSIONS_CACHE_SIZE 50,000), then allocator high-water",
    )


async def _fares(topic: str, first: int, count: int) -> None:
    """Two fares each of ``count`` residents, produced to ``topic``: the first starts the
    resident's progress (saved, not cached: eventsourcing caches what it *reads*), the
    second reads it back, so the cache holds it as it would any resident who rides twice."""
    fares = [
        FarePaid(
            trip_id=uuid.uuid4(), wallet_id=uuid.uuid5(uuid.NAMESPACE_OID, f"resident-{i}"),
            validator_id="v", route_id="r", fare_product="regular", coins=1, baht_satang=0,
            occurred_at=FARES_AT + timedelta(days=day, seconds=i),
        )
        for day in (0, 1)
        for i in range(first, first + count)
    ]  # fmt: skip
    await _produce([encode(f, ce_id=str(uuid.uuid4()), source="/kgo/transit",
                           topic_for=lambda _e: topic) for f in fares])  # fmt: skip


async def _produce(records: Sequence[OutgoingRecord]) -> None:
    kafka = producer(INFRA.kafka_bootstrap)
    await kafka.start()
    try:
        for start in range(0, len(records), 20_000):
            await asyncio.gather(*await produce(kafka, records[start : start + 20_000]))
    finally:
        await kafka.stop()


PROJECTIONS_TOPICS = (
    "WALLET_TOPIC", "MISSIONS_TOPIC", "MERCHANT_TOPIC", "TRANSIT_TOPIC", "DIGESTS_TOPIC"
)  # fmt: skip


async def projections(n: int, _load: Load) -> Measured:
    """A synthetic city's history produced to the four topics, read by the live consumer."""
    from kgo_contracts import topics as names
    from tests.integration.projections.history import build

    consumer = f"bench_mem_{uuid.uuid4().hex[:8]}"
    env = {
        "PROJECTIONS_CONSUMER_NAME": consumer,
        "PROJECTIONS_INTEGRITY_CONSUMER_NAME": f"{consumer}_integrity",
    }
    async with serve("projections", PROJECTIONS_TOPICS, env) as served:
        topic = {
            names.WALLET: served.topics["WALLET_TOPIC"],
            names.MISSIONS: served.topics["MISSIONS_TOPIC"],
            names.MERCHANT: served.topics["MERCHANT_TOPIC"],
            names.TRANSIT: served.topics["TRANSIT_TOPIC"],
        }
        dsn = INFRA.database_url("projections")
        warm = await asyncio.to_thread(build, WARM_UP, 0)
        city = await asyncio.to_thread(_cities, build, n)
        await _produce(_encoded(warm.events, topic))
        await consumed(dsn, served.schema, consumer, len(warm.events), timeout=120)
        empty = await settled_rss(served.pid)
        began = time.monotonic()
        await _produce(_encoded(city.events, topic))
        total = len(warm.events) + len(city.events)
        await consumed(dsn, served.schema, consumer, total, timeout=7200)
        seconds = time.monotonic() - began
        full = await settled_rss(served.pid)
    return Measured(
        "projections", n, empty, full, seconds,
        f"{len(city.events):,} events on Kafka, its live consumer",
        "nothing per resident in memory (read models are Postgres tables)",
    )  # fmt: skip


CITY = 2_000  # the synthetic history's budgets run dry much beyond this many residents


def _cities(build: Callable[[int, int], Any], n: int) -> Any:
    """Histories of ``n`` residents in all, made as independent cities of up to CITY each
    (their accounts and ids are new in each), as one history."""
    cities = [build(min(CITY, n - first), seed) for seed, first in enumerate(range(0, n, CITY), 1)]
    for other in cities[1:]:
        cities[0].events += other.events
    return cities[0]


def _encoded(events: Sequence[Any], topic: dict[str, str]) -> list[OutgoingRecord]:
    return [
        encode(e, ce_id=str(uuid.uuid4()), source=e.ce_source(),
               topic_for=lambda e: topic[e.topic])
        for e in events
    ]  # fmt: skip


@dataclass
class Seeded:
    """A served wallet with its treasury, and what ``make`` made for each resident."""

    served: Served
    admin: str
    service: str
    made: list[str]
    seconds: float


@contextlib.asynccontextmanager
async def seeded_wallet(
    count: int, make: Callable[[WalletSeeder, int], Awaitable[str]]
) -> AsyncIterator[Seeded]:
    """A wallet served on a schema of its own, its treasury set up, and ``count`` residents
    made by the wallet's command layer (``make``: a rider with a pass, a payer with a code),
    200 at a time."""
    consumer = {"WALLET_MISSIONS_CONSUMER": f"bench_mem_{uuid.uuid4().hex[:8]}"}
    async with serve("wallet", WALLET_TOPICS, consumer) as served:
        settings = WalletSettings(database_schema=served.schema)
        admin = await _token(settings, served.schema, "municipal_admin")
        service = await _token(settings, served.schema, "service")
        async with httpx.AsyncClient(base_url=served.url, timeout=120) as api:
            await treasury(api, admin)
        began = time.monotonic()
        made = [""] * count
        async with WalletSeeder(settings) as seeder:

            async def one(i: int) -> None:
                made[i] = await make(seeder, i)

            await in_parallel(count, 200, one)
        yield Seeded(served, admin, service, made, time.monotonic() - began)


TAPS_AT = datetime(2030, 1, 1, 6, 0, tzinfo=BANGKOK)


async def transit(n: int, load: Load) -> Measured:
    """Riders made at a served wallet (its command layer), then one coin fare each through
    transit's offline batch API: transit judges, asks the wallet, records the trip."""
    async with seeded_wallet(WARM_UP + n, WalletSeeder.rider) as seeded:
        wallet_served, admin, service = seeded.served, seeded.admin, seeded.service
        passes, made = seeded.made, seeded.seconds
        env = {
            "TRANSIT_WALLET_URL": wallet_served.url,
            "TRANSIT_WALLET_TOKEN": service,
            "TRANSIT_OPERATOR_REF": wallet_served.schema,
        }
        async with (
            serve("transit", ("EVENTS_TOPIC", "WALLET_TOPIC"), env) as served,
            httpx.AsyncClient(base_url=served.url, timeout=3600) as t,
        ):
            await post(t, "/v1/routes", {"route_id": "kk-1", "name": "Loop", "length_km": 17},
                       admin)  # fmt: skip
            await post(t, "/v1/buses", {"bus_id": "kkb-01", "route_id": "kk-1"}, admin)
            await post(t, "/v1/campaigns", {
                "campaign_id": "bench", "starts_at": TAPS_AT.isoformat(),
                "ends_at": (TAPS_AT + timedelta(days=3650)).isoformat(),
                "coins": 1, "baht_satang": 100, "programme": "bench",
            }, admin)  # fmt: skip
            validator = await post(
                t, "/v1/validators", {"validator_id": "v1", "bus_id": "kkb-01"}, admin
            )
            credential = str(validator["credential"])
            for day in (0, 1):
                await _taps(t, credential, passes, 0, WARM_UP, day)
            empty = await settled_rss(served.pid)
            began = time.monotonic()
            size = load.tap_batch  # at most 10,000: the API's limit
            for day in (0, 1):
                for first in range(WARM_UP, WARM_UP + n, size):
                    count = min(size, WARM_UP + n - first)
                    await _taps(t, credential, passes, first, count, day)
            seconds = time.monotonic() - began
            full = await settled_rss(served.pid)
    return Measured(
        "transit",
        n,
        empty,
        full,
        seconds,
        f"riders by the wallet's command layer ({made:,.0f} s), two taps each in offline"
        f" batches of {load.tap_batch:,} (coin fares)",
        "cached pass accounts (TRANSIT_CACHE_SIZE 20,000), an upload's working set",
    )


async def _taps(
    client: httpx.AsyncClient,
    credential: str,
    passes: list[str],
    first: int,
    count: int,
    day: int,
) -> None:
    """One offline upload: riders ``first``.. ``first + count - 1`` tap once each on
    ``day``. A rider's first tap opens the pass account (saved, not cached: eventsourcing
    caches what it reads), the second reads it back, so it is cached as a regular rider's."""
    taps = [
        {"tap_id": f"tap-{day}-{i}", "pass": passes[i],
         "tapped_at": (TAPS_AT + timedelta(days=day, seconds=i)).isoformat()}
        for i in range(first, first + count)
    ]  # fmt: skip
    answer = await post(client, "/v1/taps/batch", {"taps": taps}, credential)
    unpaid = [r for r in answer["results"] if r["status"] != "paid"]
    if answer["pending"] or unpaid:
        raise RuntimeError(f"taps not paid: {answer['pending']} pending, {unpaid[:3]}")


SHOP = {
    "name": "Bench Noodles", "category": "food_and_drink", "district": "Ban Phai",
    "latitude": 16.06, "longitude": 102.73, "size_class": "small",
    "rules": {"coin_value_satang": 100, "max_coin_share_percent": 100},
    "contact": {"person": "Bench", "phone": "+66 80 000 0000"},
}  # fmt: skip


async def merchant(n: int, load: Load) -> Measured:
    """Payers made at a served wallet (its command layer), then one redemption each at one
    shop's till through merchant's API (merchant -> wallet hold -> capture)."""
    async with seeded_wallet(WARM_UP + n, WalletSeeder.payer) as seeded:
        wallet_served, admin, service = seeded.served, seeded.admin, seeded.service
        codes, made = seeded.made, seeded.seconds
        env = {
            "MERCHANT_WALLET_URL": wallet_served.url,
            "MERCHANT_WALLET_TOKEN": service,
            "MERCHANT_WALLET_EVENTS_TOPIC": wallet_served.topics["EVENTS_TOPIC"],
        }
        limits = httpx.Limits(max_connections=load.concurrency, max_keepalive_connections=64)
        async with (
            serve("merchant", ("EVENTS_TOPIC",), env) as served,
            httpx.AsyncClient(base_url=served.url, limits=limits, timeout=120) as m,
        ):
            shop = await post(m, "/merchant/v1/shops", SHOP, admin)
            till = await post(m, f"/merchant/v1/shops/{shop['shop_id']}/tills",
                              {"label": "bench"}, admin)  # fmt: skip

            async def redeem(i: int) -> None:
                body = {"payment_code": codes[i], "bill_satang": 1_000, "coins": 1}
                await post(m, "/merchant/v1/redemptions", body, str(till["secret"]))

            await in_parallel(WARM_UP, load.concurrency, redeem)
            empty = await settled_rss(served.pid)
            began = time.monotonic()
            await in_parallel(n, load.concurrency, lambda i: redeem(WARM_UP + i))
            seconds = time.monotonic() - began
            full = await settled_rss(served.pid)
    return Measured(
        "merchant",
        n,
        empty,
        full,
        seconds,
        f"payers by the wallet's command layer ({made:,.0f} s), one redemption each over"
        f" HTTP, {load.concurrency} callers",
        "no aggregate cache: nothing per resident is kept",
    )
