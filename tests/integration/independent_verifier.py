"""An independent verifier of KGO's daily digests, written from schemas/README.md ("Daily
digests") alone, as a city system or a journalist would: the standard library, the
`cryptography` package for Ed25519 and a Kafka client (aiokafka). It imports no KGO code.

    python independent_verifier.py --bootstrap HOST:PORT --ledger-topic kgo.wallet.events \
        --digests-topic kgo.public.digests --public-key KEY.pem [--public-key ...]

Exit status 0 when there are digests and every one verifies, 1 otherwise (one line per
difference).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

ZEROS = "0" * 64


async def read(bootstrap: str, topic: str) -> list[tuple[dict[str, str], str, bytes]]:
    """(headers, key, value) of every record of every partition, up to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for message in batch.get(tp, []):
                    if message.offset < ends[tp]:
                        headers = {k: v.decode() for k, v in message.headers if v is not None}
                        out.append((headers, (message.key or b"").decode(), message.value))
        return out
    finally:
        await consumer.stop()


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def canonical(value: Any) -> bytes:
    return json.dumps(drop_nulls(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")  # fmt: skip


def totals_of(lines: list[tuple[str, dict[str, Any]]], held: int) -> dict[str, Any]:
    t: dict[str, Any] = {name: 0 for name in (
        "minted", "granted", "spent_at_shops", "fares", "fare_shortfalls", "voided",
        "rewarded", "settled", "settled_baht_satang")}  # fmt: skip
    by_programme: dict[str, int] = {}
    for ce_type, p in lines:
        kind, amount = ce_type.rsplit(".", 1)[0].rsplit(".", 1)[1], p.get("amount", 0)
        if kind == "SupplyMinted":
            t["minted"] += amount
        elif kind == "CoinsGranted":
            t["granted"] += amount
            by_programme[p["programme"]] = by_programme.get(p["programme"], 0) + amount
        elif kind == "PaymentReceived" and p["account_kind"] == "shop":
            t["spent_at_shops"] += amount
        elif kind == "PaymentReceived" and p["account_kind"] == "operator":
            t["fares"] += amount
        elif kind == "ShortfallCompensated":
            t["fare_shortfalls"] += amount
        elif kind == "RefundPaid":
            t["voided"] += amount
        elif kind == "RewardPaid":
            t["rewarded"] += amount
        elif kind == "SettlementPaid":
            t["settled"] += amount
            t["settled_baht_satang"] += p["baht_satang"]
        elif kind == "CoinsHeld":
            held += amount
        elif kind in ("HoldCaptured", "HoldReleased", "HoldExpired"):
            held -= amount
    t["granted_by_programme"] = by_programme
    t["held_at_close"] = held
    return t


def check(ledger: list[tuple[dict[str, str], str, bytes]],
          digests: list[tuple[dict[str, str], str, bytes]],
          keys: dict[str, Ed25519PublicKey]) -> list[str]:  # fmt: skip
    problems: list[str] = []
    lines: dict[int, tuple[bytes, str, dict[str, Any]]] = {}
    for headers, key, value in ledger:
        if "kgo_position" not in headers:
            problems.append("a ledger record has no kgo_position")
            continue
        position, payload = int(headers["kgo_position"]), json.loads(value)
        line = canonical({"key": key, "payload": payload, "position": position,
                          "type": headers["ce_type"]})  # fmt: skip
        if position in lines and lines[position][0] != line:
            problems.append(f"two different records at position {position}")
        lines.setdefault(position, (line, headers["ce_type"], payload))
    days: dict[str, dict[str, Any]] = {}
    for _headers, _key, value in digests:
        digest = json.loads(value)
        if digest["day"] in days and canonical(days[digest["day"]]) != canonical(digest):
            problems.append(f"two different digests for {digest['day']}")
        days.setdefault(digest["day"], digest)
    previous: dict[str, Any] | None = None
    held = 0
    for day in sorted(days):
        d = days[day]
        body = {k: v for k, v in d.items() if k not in ("digest_sha256", "signature")}
        text = canonical(body)
        if d["algorithm"] != "kgo-daily-digest-1":
            problems.append(f"{day}: algorithm {d['algorithm']}")
        if hashlib.sha256(text).hexdigest() != d["digest_sha256"]:
            problems.append(f"{day}: digest_sha256 wrong")
        key = keys.get(d["key_id"])
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes.fromhex(d["signature"]), text)
        except (InvalidSignature, ValueError):
            problems.append(f"{day}: signature not valid with a published key")
        if previous is None:
            chained, start = d["previous_digest_sha256"] == ZEROS, 1
        else:
            after = datetime.date.fromisoformat(previous["day"]) + datetime.timedelta(days=1)
            if day != after.isoformat():
                problems.append(f"{day}: a day is missing before it")
            chained = d["previous_digest_sha256"] == previous["digest_sha256"]
            start = previous["to_position"] + 1
        if not chained:
            problems.append(f"{day}: broken chain")
        if d["from_position"] != start or d["to_position"] < start - 1:
            problems.append(f"{day}: range {d['from_position']}-{d['to_position']} wrong")
        in_range = [lines[p] for p in sorted(lines) if start <= p <= d["to_position"]]
        sha = hashlib.sha256(b"".join(line + b"\n" for line, _, _ in in_range)).hexdigest()
        if len(in_range) != d["record_count"]:
            problems.append(f"{day}: {len(in_range)} records, digest says {d['record_count']}")
        if sha != d["records_sha256"]:
            problems.append(f"{day}: records_sha256 differs")
        totals = totals_of([(t, p) for _, t, p in in_range], held)
        if canonical(totals) != canonical(d["totals"]):
            problems.append(f"{day}: totals differ: {totals} != {d['totals']}")
        held, previous = totals["held_at_close"], d
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ledger-topic", required=True)
    parser.add_argument("--digests-topic", required=True)
    parser.add_argument("--public-key", action="append", default=[])
    args = parser.parse_args()
    keys = {}
    for path in args.public_key:
        with open(path, "rb") as handle:
            key = load_pem_public_key(handle.read())
        assert isinstance(key, Ed25519PublicKey)
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        keys[hashlib.sha256(raw).hexdigest()[:16]] = key
    ledger = asyncio.run(read(args.bootstrap, args.ledger_topic))
    digests = asyncio.run(read(args.bootstrap, args.digests_topic))
    problems = check(ledger, digests, keys)
    for problem in problems:
        print(problem)
    print(f"{len(digests)} digest records, {len(ledger)} ledger records, "
          f"{len(problems)} problems")  # fmt: skip
    return 1 if problems or not digests else 0


if __name__ == "__main__":
    sys.exit(main())
