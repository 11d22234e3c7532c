"""The wallet under load: spends and grants through the CommandBus on a Postgres ledger.

A world is a fresh event store with the genesis, one programme budget, a few shops and many
residents who each hold enough coins for the whole run. Callers pick a resident and a shop at
random, so batches mix many accounts the way a city's payments would.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from services.wallet.adapters.event_store import ensure_schema, ledger_env, open_ledger
from services.wallet.application import commands as c
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.application.unit_of_work import AggregateCache
from services.wallet.domain.ids import receipt_id
from services.wallet.settings import WalletSettings

from .measure import Sample, closed_loop

BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
PROGRAMME = "bench-welcome"
CALLER = "bench"
SETUP_BATCH = 256
KEPT_KEYS = 1000


def now() -> datetime:
    return datetime.now(BANGKOK)


@dataclass
class World:
    ledger: WalletLedger
    residents: list[UUID]
    shops: list[UUID]
    #: The first idempotency keys the load used (their receipts are weighed afterwards).
    keys: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.ledger.close()


def _chunks(items: Sequence[c.Command], size: int) -> Iterator[Sequence[c.Command]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _run(ledger: WalletLedger, commands: Sequence[c.Command]) -> list[c.Outcome]:
    outcomes: list[c.Outcome] = []
    for chunk in _chunks(commands, SETUP_BATCH):
        outcomes += ledger.execute(chunk)
    refused = [o for o in outcomes if not o.ok]
    if refused:
        raise RuntimeError(f"setup refused {len(refused)} commands, first: {refused[0]}")
    return outcomes


def open_stock_ledger(settings: WalletSettings) -> WalletLedger:
    """The ledger on eventsourcing's stock Postgres recorder and JSON transcoder: the
    baseline the wallet's own recorder and transcoder are measured against."""
    ensure_schema(settings)
    env = {
        key: value
        for key, value in ledger_env(settings).items()
        if key not in ("APPLICATION_RECORDER_TOPIC", "TRANSCODER_TOPIC")
    }
    return WalletLedger(env=env, cache_size=settings.cache_size)


def build_world(
    schema: str,
    *,
    residents: int,
    shops: int,
    allocate: int,
    grant_each: int,
    stock_store: bool = False,
) -> World:
    """Open a ledger on ``schema`` and fill it (runs synchronously; call it in a thread)."""
    settings = WalletSettings(database_schema=schema)
    ledger = open_stock_ledger(settings) if stock_store else open_ledger(settings)
    at = now()

    def cmd(cls: type[c.Command], key: str, **kw: Any) -> c.Command:
        return cls(idempotency_key=f"setup-{key}", caller="admin", at=at, **kw)

    _run(ledger, [
        cmd(c.MintGenesis, "genesis"),
        cmd(c.OpenBudget, "budget", programme=PROGRAMME, label="Benchmark welcome grant"),
        cmd(c.AllocateBudget, "allocate", programme=PROGRAMME, amount=allocate),
    ])  # fmt: skip
    shop_ids = [
        UUID(o.body["account_id"])
        for o in _run(ledger, [
            cmd(c.OpenPayee, f"shop-{i}", kind="shop", external_ref=f"bench-shop-{i}",
                label=f"Shop {i}")
            for i in range(shops)
        ])
    ]  # fmt: skip
    resident_ids = [
        UUID(o.body["wallet_id"])
        for o in _run(ledger, [
            cmd(c.RegisterResident, f"resident-{i}", national_id_index=f"nid-{i}",
                phone_index=f"phone-{i}", personal_data_digest="digest",
                sealed_personal_data="sealed", key_id="bench")
            for i in range(residents)
        ])
    ]  # fmt: skip
    if grant_each:
        _run(ledger, [
            cmd(c.Grant, f"grant-{i}", programme=PROGRAMME, wallet_id=w, amount=grant_each,
                reason="benchmark float", reference=f"setup-{i}")
            for i, w in enumerate(resident_ids)
        ])  # fmt: skip
    return World(ledger, resident_ids, shop_ids)


def store_config(ledger: WalletLedger) -> str:
    """How the ledger's event store inserts, in words."""
    datastore = getattr(ledger.recorder, "datastore", None)
    if getattr(datastore, "enable_db_functions", False):
        return "`POSTGRES_ENABLE_DB_FUNCTIONS=y`: inserts through a stored function, no table lock"
    return (
        "`POSTGRES_ENABLE_DB_FUNCTIONS` off: every insert transaction takes "
        "`LOCK TABLE ... IN EXCLUSIVE MODE` on the events table"
    )


CommandFactory = Callable[[random.Random, str], c.Command]


def spend_factory(world: World) -> CommandFactory:
    def make(rng: random.Random, key: str) -> c.Command:
        return c.Spend(
            idempotency_key=key, caller=CALLER, at=now(), wallet_id=rng.choice(world.residents),
            payee_id=rng.choice(world.shops), amount=1, reference=key,
        )  # fmt: skip

    return make


def grant_factory(world: World) -> CommandFactory:
    def make(rng: random.Random, key: str) -> c.Command:
        return c.Grant(
            idempotency_key=key, caller=CALLER, at=now(), programme=PROGRAMME,
            wallet_id=rng.choice(world.residents), amount=1, reason="welcome", reference=key,
        )  # fmt: skip

    return make


Execute = Callable[..., list[c.Outcome]]


@contextlib.contextmanager
def wrapping_execute(
    ledger: WalletLedger, wrap: Callable[[Execute], Execute], names: Sequence[str] = ("execute",)
) -> Iterator[None]:
    """``ledger.execute`` (and the other ``names``: the pipelined bus's ``decide`` and
    ``store``) replaced by ``wrap(ledger.execute)`` while inside. An instance attribute
    shadows the method (the bus looks it up per batch); a wrapper already there is wrapped in
    turn and put back afterwards."""
    before = {name: ledger.__dict__.get(name) for name in names}
    for name in names:
        setattr(ledger, name, wrap(getattr(ledger, name)))
    try:
        yield
    finally:
        for name, method in before.items():
            if method is None:
                delattr(ledger, name)
            else:
                setattr(ledger, name, method)


@dataclass
class BatchLog:
    """The writer's batches, timed inside its thread: (finished at, commands, wall, CPU)."""

    batches: list[tuple[float, int, float, float]] = field(default_factory=list)

    def wrap(self, inner: Execute) -> Execute:
        """Times ``execute`` and ``decide`` (a batch each) and ``store`` (its CPU and wall
        time are added to the batch's, as 0 commands: the writer's work in two threads)."""

        def timed(commands: Any, *rest: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return inner(commands, *rest)
            finally:
                done = time.perf_counter()
                count = len(commands) if isinstance(commands, Sequence) else 0
                self.batches.append((done, count, done - wall, time.thread_time() - cpu))

        return timed

    def summary(
        self, window: tuple[float, float]
    ) -> tuple[float | None, float | None, float | None]:
        """(mean batch, share of the window the writer was busy, writer CPU µs per command)."""
        inside = [b for b in self.batches if window[0] <= b[0] <= window[1]]
        span = window[1] - window[0]
        commands = sum(b[1] for b in inside)
        if not inside or span <= 0 or not commands:
            return None, None, None
        busy = sum(b[2] for b in inside) / span
        cpu_us = sum(b[3] for b in inside) / commands * 1e6
        return commands / sum(1 for b in inside if b[1]), busy, cpu_us


@dataclass
class BusRun:
    sample: Sample
    mean_batch: float | None
    writer_busy: float | None
    cpu_us_per_command: float | None


async def through_bus(
    world: World,
    make: CommandFactory,
    *,
    tag: str,
    concurrency: int,
    duration: float,
    warmup: float,
    max_batch: int = 256,
) -> BusRun:
    """``concurrency`` callers, each awaiting ``bus.submit`` in a loop, unique keys."""
    log = BatchLog()
    bus = CommandBus(world.ledger, max_batch=max_batch)
    rngs = [random.Random(f"{tag}-{i}") for i in range(concurrency)]

    async def submit(worker: int, n: int) -> c.Outcome:
        key = f"{tag}-{worker}-{n}"
        if len(world.keys) < KEPT_KEYS:
            world.keys.append(key)
        return await bus.submit(make(rngs[worker], key))

    with wrapping_execute(world.ledger, log.wrap):
        await bus.start()
        try:
            sample = await closed_loop(
                submit,
                concurrency=concurrency,
                duration=duration,
                warmup=warmup,
                ok=lambda outcome: isinstance(outcome, c.Outcome) and outcome.ok,
            )
        finally:
            await bus.stop()
    mean_batch, busy, cpu_us = log.summary(sample.window)
    return BusRun(sample, mean_batch, busy, cpu_us)


def bytes_per_aggregate(ledger: WalletLedger, ids: Sequence[UUID]) -> float | None:
    """Python memory retained per aggregate when ``ids`` are loaded into a fresh cache."""
    if not ids:
        return None
    gc.collect()
    tracemalloc.start()
    try:
        cache = AggregateCache(len(ids))
        base = tracemalloc.get_traced_memory()[0]
        for aggregate_id in ids:
            cache.put(aggregate_id, ledger.repository.get(aggregate_id))
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - base) / len(ids)
    finally:
        tracemalloc.stop()


Footprint = tuple[int | None, float | None, float | None]


async def cache_footprint(world: World, sample_size: int = KEPT_KEYS) -> Footprint:
    """(aggregates in the writer's cache, bytes per cached account, bytes per cached receipt)."""
    accounts = world.residents[:sample_size]
    receipts = [receipt_id(CALLER, key) for key in world.keys[:sample_size]]
    per_account = await asyncio.to_thread(bytes_per_aggregate, world.ledger, accounts)
    per_receipt = await asyncio.to_thread(bytes_per_aggregate, world.ledger, receipts)
    return len(world.ledger.cache._items), per_account, per_receipt


# --- `python -m bench.wallet`: the ledger core alone, between raw insert runs ---------------


async def _standalone(concurrency: int, duration: float, rounds: int, profile: bool) -> None:
    import os
    import sys

    from kgo_runtime.testing import fresh_schema

    from . import raw

    settings = WalletSettings()
    dsn = settings.database_url
    async with fresh_schema(dsn, "bench_core") as schema:
        world = await asyncio.to_thread(
            build_world, schema, residents=2000, shops=20, allocate=900_000, grant_each=175
        )
        try:
            if profile:
                from .profile import WriterProfile

                for op, factory in (("spends", spend_factory), ("grants", grant_factory)):
                    prof = WriterProfile()
                    with wrapping_execute(world.ledger, prof.wrap):
                        run = await through_bus(
                            world, factory(world), tag=f"{op}prof", concurrency=concurrency,
                            duration=duration, warmup=0,
                        )  # fmt: skip
                    print(f"{op}:\n{prof.summary(run.sample.ops, top=30)}", flush=True)
                return
            for n in range(rounds):
                rates: dict[str, float] = {}
                async with fresh_schema(dsn, "bench_raw") as raw_schema:
                    s = await raw.postgres_inserts(
                        dsn, raw_schema, concurrency=concurrency, duration=duration, warmup=1
                    )
                rates["raw"] = s.rate
                for op, factory in (("spends", spend_factory), ("grants", grant_factory)):
                    cpu = time.process_time()
                    run = await through_bus(
                        world, factory(world), tag=f"{op}{n}", concurrency=concurrency,
                        duration=duration, warmup=1,
                    )  # fmt: skip
                    cpu = time.process_time() - cpu
                    rates[op] = run.sample.rate
                    print(
                        f"round {n}: {op} {run.sample.rate:,.0f}/s (mean batch "
                        f"{run.mean_batch or 0:.1f}, writer busy {run.writer_busy or 0:.0%}, "
                        f"writer CPU {run.cpu_us_per_command or 0:.0f} µs/cmd, process CPU "
                        f"{cpu / max(1, run.sample.ops) * 1e6:.0f} µs/cmd, "
                        f"p50 {run.sample.percentile_ms(0.5) or 0:.1f} ms, "
                        f"errors {run.sample.errors})",
                        file=sys.stderr, flush=True,
                    )  # fmt: skip
                print(
                    f"round {n}: raw insert tx at {concurrency}: {rates['raw']:,.0f}/s; spends "
                    f"{rates['spends'] / rates['raw']:.2f}, grants "
                    f"{rates['grants'] / rates['raw']:.2f} of it; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        finally:
            await asyncio.to_thread(world.close)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the ledger core beside raw insert tx")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile the writer only")
    args = parser.parse_args()
    asyncio.run(_standalone(args.concurrency, args.duration, args.rounds, args.profile))
