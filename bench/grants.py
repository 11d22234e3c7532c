"""MissionCompleted -> CoinsGranted: how fast the wallet turns missions' completions into
grants, and how long each one takes, through a real `kgo serve wallet` process (its consumer
of the missions topic, its command bus, its relay), next to the raw produce -> consume
latency of the same broker in the same run.

    uv run python -m bench.grants                  # 500 completions at 100/s
    uv run python -m bench.grants --completions 2000 --rate 400

Latency per completion: from handing the MissionCompleted record to the producer until its
CoinsGranted (reference = the completion id) is read back from the wallet topic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kgo_contracts.base import BANGKOK
from kgo_contracts.missions import MissionCompleted
from kgo_runtime.envelope import encode, header_map
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from tests.e2e.platform import kgo, service_process

from .measure import percentile


async def _tail(bootstrap: str, topic: str, seen: dict[str, float], wanted: int) -> None:
    """Read ``topic`` from the beginning, stamping each CoinsGranted's reference."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while len(seen) < wanted:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for record in records:
                    headers = header_map(record.headers)
                    if headers["ce_type"] in ("kgo.wallet.CoinsGranted.v1", "raw"):
                        key = json.loads(record.value)["reference"]
                        seen.setdefault(key, now)
    finally:
        await consumer.stop()


async def _steady(producer: AIOKafkaProducer, records: list, rate: float, sent: dict) -> None:  # type: ignore[type-arg]
    start = time.perf_counter()
    for i, (reference, record) in enumerate(records):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent[reference] = time.perf_counter()
        await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
    await producer.flush()


def _summary(sent: dict[str, float], seen: dict[str, float], seconds: float) -> dict[str, float]:
    latencies = sorted((seen[k] - sent[k]) * 1000 for k in sent)
    return {
        "count": len(latencies),
        "per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


async def run(completions: int, rate: float) -> dict[str, dict[str, float]]:
    bootstrap = InfraSettings().kafka_bootstrap
    base = unique_name("bench.grants")
    names = {k: f"{base}.{k}" for k in ("wallet", "missions", "raw")}
    every = [*names.values(), *(f"{n}.dlq" for n in names.values())]
    await create_topics(bootstrap, every, partitions=6)
    home = Path(tempfile.mkdtemp(prefix="kgo-bench-grants-"))
    wallet = service_process("wallet", home / "kgo", {
        "WALLET_EVENTS_TOPIC": names["wallet"], "WALLET_MISSIONS_TOPIC": names["missions"],
        "WALLET_MISSIONS_CONSUMER": unique_name("bench-grants"),
    }, home)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=2)
    try:
        wallet.start()
        admin_token = kgo(wallet.env, "wallet", "token", "create", "--role", "municipal_admin",
                          "--name", "bench").stdout.strip().splitlines()[-1]  # fmt: skip
        async with httpx.AsyncClient(
            base_url=wallet.url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
        ) as api:

            async def post(path: str, body: dict[str, object]) -> httpx.Response:
                return await api.post(path, json=body, headers={"Idempotency-Key": uuid4().hex})

            await post("/v1/treasury/genesis", {})
            await post("/v1/budgets", {"programme": "welcome", "label": "welcome"})
            await post("/v1/budgets/welcome/allocations", {"amount": 10 * completions})
            residents = []
            for chunk in range(0, completions, 50):
                answers = await asyncio.gather(*(
                    post("/v1/residents", {"national_id": _national_id(i), "phone": _phone(i)})
                    for i in range(chunk, min(chunk + 50, completions))
                ))  # fmt: skip
                residents += [a.json()["wallet_id"] for a in answers]
        await producer.start()
        at = datetime.now(BANGKOK)
        records = []
        for wallet_id in residents:
            completion = MissionCompleted(
                completion_id=uuid4(), wallet_id=wallet_id, mission_id=uuid4(),
                programme="welcome", period="once", reward=5, occurred_at=at,
            )  # fmt: skip
            records.append((str(completion.completion_id), encode(
                completion, ce_id=str(uuid4()), source="/kgo/missions",
                topic_for=lambda _e: names["missions"],
            )))  # fmt: skip
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        started = time.perf_counter()
        tail = asyncio.create_task(_tail(bootstrap, names["wallet"], seen, len(records)))
        await _steady(producer, records, rate, sent)
        await asyncio.wait_for(tail, 300)
        grants = _summary(sent, seen, time.perf_counter() - started)

        # The broker alone, same count and rate: produce a record, read it back.
        raw = [(str(i), _raw_record(names["raw"], str(i))) for i in range(len(records))]
        sent, seen = {}, {}
        started = time.perf_counter()
        tail = asyncio.create_task(_tail(bootstrap, names["raw"], seen, len(raw)))
        await _steady(producer, raw, rate, sent)
        await asyncio.wait_for(tail, 120)
        baseline = _summary(sent, seen, time.perf_counter() - started)
        return {"grants": grants, "raw": baseline}
    finally:
        await producer.stop()
        wallet.stop()
        wallet.drop_schema()
        await delete_topics(bootstrap, every)


class _Raw:
    def __init__(self, topic: str, reference: str) -> None:
        self.topic, self.key = topic, reference.encode()
        self.value = json.dumps({"reference": reference}).encode()
        self.headers = [("ce_type", b"raw"), ("ce_id", reference.encode())]


def _raw_record(topic: str, reference: str) -> _Raw:
    return _Raw(topic, reference)


def _national_id(i: int) -> str:
    first = f"5{i:011d}"
    total = sum(int(d) * (13 - n) for n, d in enumerate(first))
    return first + str((11 - total % 11) % 10)


def _phone(i: int) -> str:
    return f"08{i:08d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="records per second offered")
    args = parser.parse_args()
    result = asyncio.run(run(args.completions, args.rate))
    print(f"| scenario ({args.completions} at {args.rate:g}/s offered) | per s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, label in (("grants", "MissionCompleted -> CoinsGranted (kgo serve wallet)"),
                        ("raw", "raw produce -> consume, same broker")):  # fmt: skip
        r = result[name]
        print(f"| {label} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
