"""Memory per service: the resident set size of each `kgo serve <service>` process, empty and
once the state of N residents has been made and touched through it.

    uv run python -m bench.memory                        # 1,000 residents, a smoke check
    uv run python -m bench.memory --residents 100000     # the issue's size: 1-20 min a service
    uv run python -m bench.memory --services wallet,missions --residents 10000,30000

Each service runs as a real `kgo serve <service>` on a Postgres schema and Kafka topics of its
own (dropped and deleted afterwards). Its RSS (``VmRSS`` from ``/proc``, summed over the
process and any children) is read once it is ready and warmed up (a few residents' worth of
the same work, so that lazily imported code and first-use buffers count as "empty"), then
again after N more residents' state went through it. The state is made through the
service's own entry points, so every rule of the service applies and its caches, followers
and consumers hold what they would hold in production:

- wallet: N residents registered through the wallet's command layer in this process (its
  ``ResidentData`` and ``CommandBus`` on the served wallet's schema: the command
  ``POST /v1/residents`` submits, personal data sealed, identity claims, an account), then
  each granted coins through the served process's HTTP API (``POST /v1/grants``,
  ``--concurrency`` callers); its writer's cache then holds every account it touched.
- missions: a first-ride mission published (its command layer), then two ``FarePaid`` per
  resident produced to its transit topic; its consumer records the completion and the second
  fact reads the progress back (eventsourcing caches what it reads, up to
  ``MISSIONS_CACHE_SIZE``, not what it newly saves).
- transit: N residents with a linked pass at a wallet (made through the wallet's command
  layer in this process, so only transit's process is measured), then two taps per rider
  through transit's offline batch API (``POST /v1/taps/batch``, ``--tap-batch`` taps a
  request): a pass account per rider (read back by its second tap, so cached up to
  ``TRANSIT_CACHE_SIZE``) and a trip per tap.
- merchant: N payers made the same way (a payment code each), then one redemption each at
  one shop's till through merchant's API (merchant -> wallet hold -> capture).
- projections: a synthetic city of N residents (~17 events each, as ``bench.projections``
  makes it) produced to its four topics and consumed by its live batched consumer.

"Per resident" is (full - empty) / N: what the process keeps per resident after the run,
with whatever the allocator has not returned to the system.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import asyncpg
import httpx

from bench.http import _free_port, _until_ready
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

INFRA = InfraSettings()
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants (``kgo serve`` may run workers as children)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, grew = {pid}, True
    while grew:
        grown = tree | {p for p, parent in parents.items() if parent in tree}
        grew, tree = grown != tree, grown
    total = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


async def settled_rss(pid: int, seconds: float = 3.0) -> int:
    """RSS once the process has been left alone for ``seconds`` (the largest of the last
    samples: background loops allocate and free as they poll)."""
    await asyncio.sleep(seconds)
    samples = []
    for _ in range(5):
        samples.append(rss_bytes(pid))
        await asyncio.sleep(0.2)
    return max(samples)


@dataclass(frozen=True)
class Measured:
    service: str
    residents: int
    empty: int
    full: int
    seconds: float
    how: str
    dominates: str

    @property
    def per_resident(self) -> float:
        return (self.full - self.empty) / self.residents if self.residents else 0.0


@dataclass
class Served:
    url: str
    pid: int
    schema: str
    topics: dict[str, str]


@asynccontextmanager
async def serve(
    service: str, topics: Sequence[str], env: dict[str, str] | None = None
) -> AsyncIterator[Served]:
    """A `kgo serve <service>` on a schema and topics of its own (``topics``: the setting
    suffixes, e.g. ``EVENTS_TOPIC``); dropped and deleted afterwards."""
    prefix = service.upper()
    schema, port = unique_name(f"bench_mem_{service}"), _free_port()
    named = {t: unique_name(f"bench.mem.{service}.{t.lower()}") for t in topics}
    await create_topics(INFRA.kafka_bootstrap, list(named.values()), partitions=6)
    full = {
        **os.environ,
        f"{prefix}_DATABASE_SCHEMA": schema,
        f"{prefix}_HTTP_PORT": str(port),
        f"{prefix}_LOG_LEVEL": "WARNING",
        **{f"{prefix}_{t}": name for t, name in named.items()},
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kgo_cli.main", "serve", service], env=full, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await _until_ready(url, process)
        yield Served(url, process.pid, schema, named)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 60)
        conn = await asyncpg.connect(INFRA.database_url(service))
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()
        await delete_topics(INFRA.kafka_bootstrap, list(named.values()))


async def in_parallel(count: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> None:
    """``one(i)`` for i in 0..count-1, ``concurrency`` at a time."""
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    """A POST with its own idempotency key, retried on 503 (the writer's queue was full)."""
    headers = {"Idempotency-Key": uuid4().hex}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for _attempt in range(20):
        response = await client.post(path, json=body, headers=headers)
        if response.status_code != 503:
            break
        await asyncio.sleep(0.5)
    if response.status_code >= 300:
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


async def consumed(dsn: str, schema: str, consumer: str, count: int, timeout: float) -> None:
    """Until ``consumer``'s positions in ``schema`` add up to ``count`` records."""
    conn = await asyncpg.connect(dsn)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                done = await conn.fetchval(
                    f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.consumer_positions"
                    " WHERE consumer = $1",
                    consumer,
                )
            except asyncpg.UndefinedTableError:
                done = 0
            if int(done) >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{consumer}: {done} of {count} records after {timeout} s")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Load:
    """How the state is driven in: HTTP callers at once, taps per offline upload."""

    concurrency: int = 32
    tap_batch: int = 10_000


Scenario = Callable[[int, Load], Coroutine[Any, Any, Measured]]
WARM_UP = 20


def _scenarios() -> dict[str, Scenario]:
    from bench import memory_scenarios as s

    return {
        "wallet": s.wallet,
        "missions": s.missions,
        "transit": s.transit,
        "merchant": s.merchant,
        "projections": s.projections,
    }


def format_rows(rows: Sequence[Measured]) -> str:
    lines = [
        "| service | residents | RSS empty MiB | RSS full MiB | per resident, bytes | seeded by "
        "| what dominates |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.service} | {r.residents:,} | {r.empty / MIB:,.1f} | {r.full / MIB:,.1f} | "
            f"{r.per_resident:,.0f} | {r.how} ({r.seconds:,.0f} s) | {r.dominates} |"
        )
    return "\n".join(lines)


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--residents", default="1000", help="comma-separated sizes, e.g. 10000,30000"
    )
    parser.add_argument(
        "--services", default="wallet,missions,transit,merchant,projections",
        help="comma-separated, in order",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP callers at once")
    parser.add_argument(
        "--tap-batch", type=int, default=10_000, help="taps per offline upload (transit)"
    )
    args = parser.parse_args(argv)
    scenarios = _scenarios()
    load = Load(args.concurrency, args.tap_batch)
    rows: list[Measured] = []
    for service in args.services.split(","):
        if service not in scenarios:
            parser.error(f"--services: one of {', '.join(scenarios)}, not {service!r}")
        for n in (int(x) for x in args.residents.split(",")):
            row = asyncio.run(scenarios[service](n, load))
            rows.append(row)
            print(format_rows([row]).splitlines()[-1], f"load {os.getloadavg()[0]:.1f}", flush=True)
    print()
    print(format_rows(rows))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    cli()
