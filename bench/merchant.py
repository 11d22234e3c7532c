"""Redemptions end to end through the merchant API, beside the wallet's own hold + capture.

A real `kgo serve wallet` and `kgo serve merchant` (schemas and topics of their own) are set
up with residents holding coins, one shop and its till; payment codes are drawn before the
clock starts (one per redemption, as a resident's app would). Then N till clients post
redemptions (code -> merchant -> wallet hold -> wallet capture -> `DiscountRedeemed`) for a
fixed time; the run ends once every approved redemption's `DiscountRedeemed` is on Kafka.
The same codes' twins then go straight to the wallet as `service` (hold, then capture): the
wallet's own rate for the same work without the merchant. Last, once both processes are
stopped, the raw PostgreSQL rate of single-row insert transactions at the same concurrency
(`bench.raw`): the limit of the same machine in the same run.

    uv run python -m bench.merchant [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx

from bench.http import _free_port, thai_national_id
from bench.measure import Sample, closed_loop
from bench.raw import postgres_insert_rates
from kgo_runtime.envelope import header_map
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name
from services.wallet.adapters.tokens import PostgresTokenStore

INFRA = InfraSettings()


@asynccontextmanager
async def serve(service: str, env: dict[str, str], schema: str) -> AsyncIterator[str]:
    port = _free_port()
    prefix = service.upper()
    full = {
        **os.environ,
        **env,
        f"{prefix}_DATABASE_SCHEMA": schema,
        f"{prefix}_HTTP_PORT": str(port),
        f"{prefix}_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kgo_cli.main", "serve", service],
        env=full,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as probe:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{service} did not become ready")
                await asyncio.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)
        conn = await asyncpg.connect(INFRA.database_url(service))
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()


async def _token(schema: str, role: str, subject: str | None = None) -> str:
    pool = await asyncpg.create_pool(INFRA.database_url("wallet"), min_size=0, max_size=1)
    try:
        issued = await PostgresTokenStore(pool, schema=schema).issue(
            role, unique_name(role), subject
        )
    finally:
        await pool.close()
    assert issued.token is not None
    return issued.token


async def _post(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, object] | None = None,
    token: str | None = None,
) -> dict[str, object]:
    headers = {"Idempotency-Key": uuid4().hex}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post(path, json=body or {}, headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    answer: dict[str, object] = response.json()
    return answer


def _row(name: str, sample: Sample) -> str:
    p50, p99 = sample.percentile_ms(0.5), sample.percentile_ms(0.99)
    return (
        f"| {name} | {sample.concurrency} | {sample.rate:,.0f} | {p50:.1f} | {p99:.1f} | "
        f"{sample.errors} |"
    )


async def run(concurrency: int, duration: float, residents: int, codes_each: int) -> str:
    wallet_schema, merchant_schema = unique_name("bench_mw"), unique_name("bench_mm")
    topics = [unique_name(f"bench.{t}") for t in ("wallet", "missions", "merchant")]
    await create_topics(INFRA.kafka_bootstrap, topics, partitions=6)
    home = Path(tempfile.mkdtemp(prefix="kgo-bench-home-"))
    wallet_env = {
        "KGO_HOME": str(home),
        "WALLET_EVENTS_TOPIC": topics[0],
        "WALLET_MISSIONS_TOPIC": topics[1],
        "WALLET_MISSIONS_CONSUMER": wallet_schema,
        "WALLET_PAYMENT_CODE_TTL_SECONDS": "3600",
    }
    try:
        async with serve("wallet", wallet_env, wallet_schema) as wallet_url:
            admin = await _token(wallet_schema, "municipal_admin")
            service = await _token(wallet_schema, "service")
            merchant_env = {
                "KGO_HOME": str(home),
                "MERCHANT_EVENTS_TOPIC": topics[2],
                "MERCHANT_WALLET_EVENTS_TOPIC": topics[0],
                "MERCHANT_WALLET_URL": wallet_url,
                "MERCHANT_WALLET_TOKEN": service,
            }
            async with serve("merchant", merchant_env, merchant_schema) as merchant_url:
                measured = await _measure(
                    wallet_url,
                    merchant_url,
                    admin,
                    service,
                    wallet_schema,
                    topics[2],
                    concurrency,
                    duration,
                    residents,
                    codes_each,
                )
    finally:
        await delete_topics(INFRA.kafka_bootstrap, topics)
    raw = await postgres_insert_rates(
        INFRA.database_url("merchant"), [concurrency], duration=duration
    )
    samples, note = measured
    samples.append(("raw PostgreSQL single-row insert transactions (same run)", raw[concurrency]))
    lines = [
        "| scenario | N | ops/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
        *(_row(name, sample) for name, sample in samples),
        "",
        note,
    ]
    return "\n".join(lines)


async def _measure(
    wallet_url: str,
    merchant_url: str,
    admin: str,
    service: str,
    wallet_schema: str,
    merchant_topic: str,
    concurrency: int,
    duration: float,
    residents: int,
    codes_each: int,
) -> tuple[list[tuple[str, Sample]], str]:
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=wallet_url, limits=limits, timeout=60) as wallet,
        httpx.AsyncClient(base_url=merchant_url, limits=limits, timeout=60) as merchant,
    ):
        await _post(wallet, "/v1/treasury/genesis", token=admin)
        await _post(wallet, "/v1/budgets", {"programme": "bench", "label": "B"}, admin)
        await _post(wallet, "/v1/budgets/bench/allocations", {"amount": 900_000}, admin)
        shop = await _post(
            merchant,
            "/merchant/v1/shops",
            {
                "name": "Bench Noodles",
                "category": "food_and_drink",
                "district": "Ban Phai",
                "latitude": 16.06,
                "longitude": 102.73,
                "size_class": "small",
                "rules": {"coin_value_satang": 100, "max_coin_share_percent": 100},
                "contact": {"person": "Bench", "phone": "+66 80 000 0000"},
            },
            admin,
        )
        till = await _post(
            merchant, f"/merchant/v1/shops/{shop['shop_id']}/tills", {"label": "bench"}, admin
        )
        codes: list[str] = []
        for i in range(residents):
            resident = await _post(
                wallet,
                "/v1/residents",
                {"national_id": thai_national_id(500_000 + i), "phone": f"09{i:08d}"},
                admin,
            )
            await _post(
                wallet,
                "/v1/grants",
                {
                    "programme": "bench",
                    "wallet_id": resident["wallet_id"],
                    "amount": 2_000,
                    "reason": "bench",
                    "reference": f"b{i}",
                },
                service,
            )
            phone = await _token(wallet_schema, "resident", str(resident["wallet_id"]))
            drawn = await asyncio.gather(
                *(_post(wallet, "/v1/payment-codes", token=phone) for _ in range(codes_each))
            )
            codes += [str(d["code"]) for d in drawn]
        # Residents in turn at the till, as a city's customers come (in drawing order, the
        # tills at once would all be paying from one resident's wallet).
        random.Random(7).shuffle(codes)
        half = len(codes) // 2
        till_codes, wallet_codes = codes[:half], codes[half:]

        till_headers = {"Authorization": f"Bearer {till['secret']}"}
        approved: list[str] = []

        async def redeem(_worker: int, _n: int) -> object:
            if not till_codes:
                await asyncio.sleep(0.01)
                return None
            body = {"payment_code": till_codes.pop(), "bill_satang": 1_000, "coins": 1}
            answer = await merchant.post(
                "/merchant/v1/redemptions",
                json=body,
                headers=till_headers | {"Idempotency-Key": uuid4().hex},
            )
            if answer.status_code == 201:
                approved.append(answer.json()["redemption_id"])
            return answer.status_code

        began = time.perf_counter()
        through_merchant = await closed_loop(
            redeem,
            concurrency=concurrency,
            duration=duration,
            warmup=0.5,
            ok=lambda s: s == 201,
            stop=lambda: not till_codes,
        )
        records = await read_topic(
            INFRA.kafka_bootstrap, merchant_topic, count=len(approved) + 1, timeout=120
        )
        redeemed = {
            header_map(r.headers)["ce_id"]
            for r in records
            if header_map(r.headers)["ce_type"] == "kgo.merchant.DiscountRedeemed.v1"
        }
        on_kafka = time.perf_counter() - began

        payee = str(shop["payee_account_id"])
        service_headers = {"Authorization": f"Bearer {service}"}

        async def hold_capture(_worker: int, _n: int) -> object:
            if not wallet_codes:
                await asyncio.sleep(0.01)
                return None
            body = {
                "payee_id": payee,
                "amount": 1,
                "reference": uuid4().hex,
                "authorisation": {"kind": "payment_code", "code": wallet_codes.pop()},
            }
            held = await wallet.post(
                "/v1/holds", json=body, headers=service_headers | {"Idempotency-Key": uuid4().hex}
            )
            if held.status_code != 201:
                return held.status_code
            hold = held.json()
            path = f"/v1/wallets/{hold['wallet_id']}/holds/{hold['hold_id']}/capture"
            captured = await wallet.post(
                path,
                json={"payee_id": payee, "amount": 1},
                headers=service_headers | {"Idempotency-Key": uuid4().hex},
            )
            return captured.status_code

        at_wallet = await closed_loop(
            hold_capture,
            concurrency=concurrency,
            duration=duration,
            warmup=0.5,
            ok=lambda s: s == 200,
            stop=lambda: not wallet_codes,
        )
    samples = [
        ("redemption via merchant (code, hold, capture, DiscountRedeemed)", through_merchant),
        ("wallet alone: hold + capture (service)", at_wallet),
    ]
    note = (
        f"{len(approved)} redemptions approved, {len(redeemed)} DiscountRedeemed on Kafka; "
        f"the last one was on the topic {on_kafka:.1f} s after the first request "
        f"(window {duration:g} s, or until the codes ran out: {through_merchant.seconds:.1f} s and "
        f"{at_wallet.seconds:.1f} s). Codes left unused: {len(till_codes)} / {len(wallet_codes)}."
    )
    return samples, note


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    # Enough codes for the window at a few hundred redemptions a second (a run that uses
    # them all ends early, its rate over the time it ran).
    duration, residents, each = (3.0, 10, 60) if args.quick else (10.0, 80, 100)
    print(asyncio.run(run(args.concurrency, duration, residents, each)))


if __name__ == "__main__":
    main()
