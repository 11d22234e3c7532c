"""Spends as a till meets them: through the wallet's HTTP API, beside the bare framework.

A real `kgo serve wallet` process (its own Postgres schema and Kafka topic, so the relay runs
too) is driven by wrk with N keep-alive connections, each posting one spend after another
with a fresh idempotency key. Client, service, Postgres and Kafka share the same cores, so
this is what the whole machine does end to end, not the wallet's ceiling.

At each connection count the same wrk script then drives `bench.bare` (FastAPI + uvicorn
validating the same body and nothing else): the framework's own ceiling in the same minute
on the same machine, which the wallet's HTTP rate is held against.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import orjson

from bench.results import Row
from kgo_cli.infra.processes import free_port
from kgo_runtime.settings import PROJECT_ROOT
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.wallet.adapters.tokens import PostgresTokenStore
from services.wallet.settings import WalletSettings

SCENARIO = "wallet spends over HTTP (wrk)"
#: The bare framework's rows: the HTTP ceiling the wallet's rows are held against.
BARE = "bare FastAPI+uvicorn, validate only (wrk)"
#: Open-loop rows (vegeta at a steady offered rate; the concurrency column is that rate).
OPEN = "wallet spends over HTTP, open loop (vegeta)"
BARE_OPEN = "bare FastAPI+uvicorn, open loop (vegeta)"


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of ``pid`` and its descendants so far."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total, grew = {pid}, 0.0, True
    while grew:
        grown = tree | {p for p, (parent, _) in stats.items() if parent in tree}
        grew, tree = grown != tree, grown
    for p in tree:
        total += stats.get(p, (0, 0.0))[1]
    return total


_free_port = free_port  # bench.merchant and bench.transit import it under this name


def thai_national_id(n: int) -> str:
    first12 = f"1{n:011d}"
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(first12)) % 11) % 10
    return first12 + str(check)


@asynccontextmanager
async def wallet_process(
    settings: WalletSettings, env: dict[str, str] | None = None, processes: int = 1
) -> AsyncIterator[tuple[str, str, int, str]]:
    """A `kgo serve wallet` on a schema and topic of its own (``env`` adds settings); yields
    its URL, schema, pid and events topic."""
    schema, topic, port = unique_name("bench_http"), unique_name("bench.http"), _free_port()
    topics = [topic, f"{topic}.missions"]  # the wallet also consumes a missions topic
    await create_topics(settings.kafka_bootstrap, topics, partitions=6)
    env = {
        **os.environ,
        "WALLET_DATABASE_SCHEMA": schema,
        "WALLET_EVENTS_TOPIC": topic,
        "WALLET_MISSIONS_TOPIC": topics[1],
        "WALLET_MISSIONS_CONSUMER": schema,
        "WALLET_HTTP_PORT": str(port),
        "WALLET_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    # BENCH_SERVER_PROFILE=<file>: run the service under cProfile (its event loop thread),
    # by wall time, or by that thread's CPU time with BENCH_SERVER_PROFILE_CPU=1.
    profile = os.environ.get("BENCH_SERVER_PROFILE")
    command = ["-m", "kgo_cli.main", "serve", "wallet"]
    if profile and os.environ.get("BENCH_SERVER_PROFILE_CPU"):
        command = ["-m", "bench.profile", profile, "serve", "wallet"]
    elif profile:
        command = ["-m", "cProfile", "-o", profile, *command]
    process = subprocess.Popen(
        [sys.executable, *command], env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await _until_ready(url, process, processes)
        yield url, schema, process.pid, topic
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()
        await delete_topics(settings.kafka_bootstrap, topics)


async def _until_ready(url: str, process: subprocess.Popen[bytes], processes: int = 1) -> None:
    """Until ``/readyz`` answers 200 on enough fresh connections in a row that every one of
    ``processes`` sharing the port (SO_REUSEPORT) has most likely answered: each process is
    ready on its own, and one still building its wallet answers writes 503 ``not_ready``."""
    in_a_row, needed = 0, 1 if processes == 1 else 12 * processes
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=fresh) as probe:
        deadline = time.monotonic() + 120
        while True:
            try:
                ready = (await probe.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                ready = False
            in_a_row = in_a_row + 1 if ready else 0
            if in_a_row >= needed:
                return
            if ready:
                continue
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not become ready")
            await asyncio.sleep(0.3)


async def _token(
    settings: WalletSettings, schema: str, role: str, subject: str | None = None
) -> str:
    pool = await asyncpg.create_pool(settings.database_url, min_size=0, max_size=1)
    try:
        store = PostgresTokenStore(pool, schema=schema)
        issued = await store.issue(role, unique_name(role), subject)
    finally:
        await pool.close()
    assert issued.token is not None
    return issued.token


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> dict[str, object]:
    response = await client.post(path, json=body, headers={"Idempotency-Key": uuid4().hex})
    if response.status_code >= 300:
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    answer: dict[str, object] = response.json()
    return answer


async def http_spends(
    settings: WalletSettings, concurrencies: Sequence[int], *, residents: int,
    duration: float, bare: bool = True, workers: int = 1, open_rates: Sequence[int] = (),
    background_apart: bool = False,
) -> list[Row]:  # fmt: skip
    """Spends of 1 coin through the API, driven by wrk with N connections: bus fares, each
    authorised by the rider's transit pass (a standing authorisation, so wrk can replay it),
    taken by the transit service. With ``bare``, each wallet run is followed by the same wrk
    run against the bare framework (rows named ``BARE``). ``workers`` > 1: the wallet runs
    that many HTTP processes (WALLET_HTTP_WORKERS) and the bare app as many uvicorn workers.
    ``background_apart``: the wallet's relay, directory, sweeper and consumer run in one more
    process (WALLET_BACKGROUND_PROCESS), counted in the server's CPU too."""
    env = {"WALLET_HTTP_WORKERS": str(workers), "WALLET_BACKGROUND_PROCESS": str(background_apart)}
    label, bare_label = (SCENARIO, BARE) if workers == 1 else (
        f"{SCENARIO}, {workers} processes", f"{BARE}, {workers} processes"
    )  # fmt: skip
    if background_apart:
        label += ", background apart"
    async with wallet_process(settings, env=env, processes=workers) as (url, schema, pid, _topic):
        admin = await _token(settings, schema, "municipal_admin")
        limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=64)
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=60
        ) as api:
            await _post(api, "/v1/treasury/genesis", {})
            await _post(api, "/v1/budgets", {"programme": "bench", "label": "Benchmark"})
            await _post(api, "/v1/budgets/bench/allocations", {"amount": 500_000})
            shop = await _post(
                api, "/v1/payees", {"kind": "operator", "external_ref": "bus", "label": "Bus"}
            )
            service = await _token(settings, schema, "service")
            api.headers["Authorization"] = f"Bearer {service}"
            passes = []
            for i in range(residents):
                resident = await _post(
                    api, "/v1/residents",
                    {"national_id": thai_national_id(i), "phone": f"08{i:08d}"},
                )  # fmt: skip
                await _post(api, "/v1/grants", {
                    "programme": "bench", "wallet_id": resident["wallet_id"], "amount": 1_000,
                    "reason": "benchmark", "reference": f"r{i}",
                })  # fmt: skip
                rider = await _token(settings, schema, "resident", str(resident["wallet_id"]))
                linked = await _post_as(api, rider, "/v1/transit-passes")
                passes.append(linked["pass"])
        script = _spend_script(passes, str(shop["account_id"]))
        rows: list[Row] = []
        bare_run = bare_process(workers) if bare else contextlib.nullcontext(("", 0))
        async with bare_run as (bare_url, bid):
            for n in concurrencies:
                rows.append(await _measured(pid, url, service, script, n, duration, label))
                if bare_url:
                    rows.append(
                        await _measured(bid, bare_url, service, script, n, duration, bare_label)
                    )
            payee = str(shop["account_id"])
            for rate in open_rates:
                rows.append(
                    await _open_loop(pid, url, service, passes, payee, rate, duration, OPEN)
                )
                if bare_url:
                    rows.append(
                        await _open_loop(
                            bid, bare_url, service, passes, payee, rate, duration, BARE_OPEN
                        )
                    )
        return rows


async def _measured(pid: int, *args: Any) -> Row:
    """One wrk run, with the server's CPU per request (all its threads and processes)."""
    profiled = bool(os.environ.get("BENCH_SERVER_PROFILE_CPU")) and args[-1] == SCENARIO
    if profiled:
        os.kill(pid, signal.SIGUSR1)
    cpu = process_cpu(pid)
    row = await asyncio.to_thread(_wrk, *args)
    used = process_cpu(pid) - cpu
    if profiled:
        os.kill(pid, signal.SIGUSR2)
    requests = row.rate * args[4]
    return replace(row, cpu_us=used / requests * 1e6 if requests else None)


@asynccontextmanager
async def bare_process(workers: int = 1) -> AsyncIterator[tuple[str, int]]:
    """`bench.bare` under uvicorn (as `kgo serve` runs it: no access log); yields its URL
    and pid."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning",
         "--workers", str(workers)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await _until_ready(url, process)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)


async def _post_as(client: httpx.AsyncClient, token: str, path: str) -> dict[str, object]:
    response = await client.post(
        path, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid4().hex}
    )
    if response.status_code >= 300:
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    answer: dict[str, object] = response.json()
    return answer


def _spend_script(passes: Sequence[object], payee_id: str) -> str:
    """A wrk script: 1-coin fares from random riders' passes, each with its own key."""
    listed = ",".join(f'"{p}"' for p in passes)
    return f"""
local passes = {{{listed}}}
local id, counter = "", 0
function init(args)
  id = tostring({{}}):gsub("table: ", "") .. "-" .. tostring(os.time())
  math.randomseed(os.time() + counter)
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{{"payee_id":"{payee_id}","amount":1,"reference":"%s-%d",' ..
    '"authorisation":{{"kind":"transit_pass","pass":"%s"}}}}',
    id, counter, passes[math.random(#passes)])
  wrk.headers["Idempotency-Key"] = id .. "-" .. counter
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/v1/spends", nil, body)
end
"""


def _wrk(
    url: str, token: str, script: str, connections: int, duration: float,
    scenario: str = SCENARIO,
) -> Row:  # fmt: skip
    """One wrk run: its requests/s and latency percentiles."""
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
    return parse_wrk(done.stdout, connections, scenario)


def vegeta_binary() -> str | None:
    """vegeta (an open-loop load generator: ``go install github.com/tsenart/vegeta/v12@v12.13.0``)
    on the PATH or in ~/go/bin, or None."""
    found = shutil.which("vegeta")
    home = os.path.expanduser("~/go/bin/vegeta")
    return found or (home if os.access(home, os.X_OK) else None)


async def vegeta_attack(targets: str, rate: int, duration: float) -> bytes:
    """vegeta's results (binary) of offering the targets of the file ``targets`` (JSON lines)
    at ``rate`` a second for ``duration`` seconds, each with a 10 s timeout."""
    vegeta = vegeta_binary()
    assert vegeta is not None
    attack = await asyncio.create_subprocess_exec(
        vegeta, "attack", "-format=json", "-lazy", f"-targets={targets}",
        f"-rate={rate}/s", f"-duration={duration}s", "-timeout=10s", "-max-workers=2000",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    results, _ = await attack.communicate()
    return results


async def _open_loop(
    pid: int, url: str, token: str, passes: Sequence[object], payee_id: str, rate: int,
    duration: float, scenario: str,
) -> Row:  # fmt: skip
    """vegeta offering ``rate`` spends a second for ``duration`` whatever the answers take
    (open loop: a slow answer does not slow the next request, as a city's tills would not
    wait for each other), each spend with its own key; latency p50/p99 of all of them, the
    server's CPU per request, and the answers that were not 2xx (timeouts at 10 s included)
    as errors."""
    vegeta = vegeta_binary()
    assert vegeta is not None
    count = int(rate * duration)
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
        for i in range(count):
            body = orjson.dumps({
                "payee_id": payee_id, "amount": 1, "reference": f"open-{i}",
                "authorisation": {"kind": "transit_pass", "pass": passes[i % len(passes)]},
            })  # fmt: skip
            target = {
                "method": "POST", "url": f"{url}/v1/spends",
                "body": base64.b64encode(body).decode(),
                "header": {
                    "Authorization": [f"Bearer {token}"], "Content-Type": ["application/json"],
                    "Idempotency-Key": [uuid4().hex],
                },
            }  # fmt: skip
            handle.write(orjson.dumps(target) + b"\n")
    cpu = process_cpu(pid)
    try:
        results = await vegeta_attack(handle.name, rate, duration)
    finally:
        os.unlink(handle.name)
    used = process_cpu(pid) - cpu
    report = subprocess.run(
        [vegeta, "report", "-type=json"], input=results, capture_output=True, check=True
    )
    return parse_vegeta(report.stdout, rate, scenario, cpu_seconds=used)


def parse_vegeta(
    text: bytes, rate: int, scenario: str = OPEN, cpu_seconds: float | None = None
) -> Row:
    """A row from ``vegeta report -type=json``: answered requests/s (2xx), latency p50/p99."""
    report = orjson.loads(text)
    requests = int(report["requests"])
    ok = sum(n for code, n in report["status_codes"].items() if code.startswith("2"))
    seconds = report["duration"] / 1e9 or 1e-9
    latencies = report["latencies"]
    cpu = cpu_seconds / ok * 1e6 if cpu_seconds is not None and ok else None
    failed = {c: n for c, n in sorted(report["status_codes"].items()) if not c.startswith("2")}
    if failed:  # which answers: 0 is no answer at all (a timeout or a refused connection)
        scenario += " [" + ", ".join(f"{c}: {n:,}" for c, n in failed.items()) + "]"
    return Row(
        scenario, rate, ok / seconds, latencies["50th"] / 1e6, latencies["99th"] / 1e6,
        cpu_us=cpu, errors=requests - ok,
    )  # fmt: skip


def parse_wrk(text: str, connections: int, scenario: str = SCENARIO) -> Row:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    latency = {q: _ms(v) for q, v in re.findall(r"\s(50|99)%\s+([\d.]+[a-z]+)", text)}
    return Row(
        scenario, connections, rate, latency.get("50"), latency.get("99"),
        errors=int(errors.group(1)) if errors else 0,
    )  # fmt: skip


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk_available() -> str | None:
    """None when wrk can be used, else why not."""
    return None if shutil.which("wrk") else "wrk is not installed (apt-get install wrk)"


def cli(argv: Sequence[str] | None = None) -> None:
    """`python -m bench.http`: only the HTTP rows (wallet and bare), printed, nothing written."""
    import argparse

    from bench.report import format_table

    parser = argparse.ArgumentParser(prog="bench.http", description=cli.__doc__)
    parser.add_argument("--connections", default="1,8,32", help="comma-separated, e.g. 1,8,32")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--no-bare", action="store_true", help="skip the bare framework")
    parser.add_argument("--workers", default="1", help="HTTP processes, comma-separated: 1,2,4")
    parser.add_argument(
        "--open-rate", default="", help="open-loop rates in requests/s (vegeta), e.g. 1000"
    )
    parser.add_argument(
        "--background", default="shared",
        help="where the wallet's background components run, comma-separated: shared (in an "
        "HTTP process), apart (a process of their own), or shared,apart",
    )  # fmt: skip
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for workers in (int(w) for w in args.workers.split(",")):
        for background in args.background.split(","):
            if background not in ("shared", "apart"):
                parser.error(f"--background: shared or apart, not {background!r}")
            measured = asyncio.run(
                http_spends(
                    WalletSettings(),
                    [int(n) for n in args.connections.split(",")],
                    residents=args.residents,
                    duration=args.duration,
                    bare=not args.no_bare,
                    workers=workers,
                    open_rates=[int(r) for r in args.open_rate.split(",") if r],
                    background_apart=background == "apart",
                )
            )
            print(format_table(measured), flush=True)
            rows += measured
    print(format_table(rows))


if __name__ == "__main__":
    cli()
