"""The city checked from outside after a run: the fold of ``kgo.wallet.events`` (the
reference fold, ``kgo_contracts.fold``) against every balance the wallet answers and the
projections' read models, conservation of the supply, and the other topics against the
ledger (every redemption, trip and mission completion recorded once). Returns a list of
differences: empty when the platform agrees with itself."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer

from kgo_contracts.fold import Ledger, fold
from kgo_runtime.kafka_admin import topic_partitions

from .http import Api, Endpoints

Record = tuple[str, str, dict[str, Any]]  # (ce_id, ce_type without version, payload)


async def read_all(bootstrap: str, topic: str) -> list[Record]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[Record] = []
        while any([await consumer.position(p) < ends[p] for p in partitions]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for r in batch:
                    headers = {k: v.decode() for k, v in r.headers}
                    name = headers["ce_type"].rsplit(".", 1)[0]
                    out.append((headers["ce_id"], name, json.loads(r.value)))
        return out
    finally:
        await consumer.stop()


@dataclass
class Findings:
    ledger: Ledger
    records: dict[str, list[Record]]
    problems: list[str] = field(default_factory=list)

    def types(self, source: str) -> Counter[str]:
        return Counter(name.rsplit(".", 1)[1] for _, name, _ in self.records[source])

    def distinct(self, source: str, kind: str) -> list[dict[str, Any]]:
        """Payloads of one type, a re-published record (same ``ce_id``) once."""
        seen: dict[str, dict[str, Any]] = {}
        for ce_id, name, payload in self.records[source]:
            if name.endswith("." + kind):
                seen.setdefault(ce_id, payload)
        return list(seen.values())


async def check_city(
    api: Api, urls: Endpoints, bootstrap: str, topics: dict[str, str], admin: str,
    accounts: list[str],
) -> Findings:  # fmt: skip
    """``accounts``: the wallet ids, shops' and bus operator's accounts to compare."""
    records = {s: await read_all(bootstrap, t) for s, t in topics.items()}
    ledger = fold((i, f"{n}.v1", p) for i, n, p in records["wallet"])
    found = Findings(ledger, records)
    problems = found.problems
    try:
        ledger.check_conservation()
    except ValueError as error:
        problems.append(f"conservation: {error}")
    budgets = await api.call("GET", f"{urls.wallet}/v1/budgets", token=admin)
    ids = list(accounts) + [
        b["account_id"] for b in budgets.get("budgets", []) if "account_id" in b
    ]
    for account in ids:
        wallet = await api.call("GET", f"{urls.wallet}/v1/wallets/{account}", token=admin)
        mine = ledger.balances.get(account)
        folded = (mine.available, mine.held) if mine else (0, 0)
        if (wallet["available"], wallet.get("held", 0)) != folded:
            problems.append(f"wallet {account}: {wallet} != fold {folded}")
        seen = await api.call(
            "GET", f"{urls.projections}/v1/balances/{account}", token=admin, ok=(200, 404)
        )
        projected = (seen["available"], seen["held"]) if seen and "available" in seen else (0, 0)
        if projected != folded:
            problems.append(f"projections {account}: {projected} != fold {folded}")
    supply = (await api.call("GET", f"{urls.projections}/v1/public/supply"))["supply"]
    if supply["minted"] != ledger.minted or supply["circulating"] != ledger.circulating():
        problems.append(f"projections' supply {supply} != fold minted {ledger.minted}")
    if supply["balances_differing_from_wallet"]:
        problems.append(f"projections: {supply['balances_differing_from_wallet']} differ")
    _reactions(found)
    return found


def _reactions(found: Findings) -> None:
    """Every MissionCompleted with a reward answered by the wallet once (a grant or a
    recorded refusal); every captured hold and fare has its redemption or trip."""
    problems = found.problems
    answers = Counter(p["reference"] for p in found.distinct("wallet", "CoinsGranted")) + Counter(
        p["reference"] for p in found.distinct("wallet", "GrantRefused")
    )
    for done in found.distinct("missions", "MissionCompleted"):
        if done["reward"] > 0 and answers[str(done["completion_id"])] != 1:
            n = answers[str(done["completion_id"])]
            problems.append(f"MissionCompleted {done['completion_id']} answered {n} times")
    redeemed = Counter(
        str(p["redemption_id"]) for p in found.distinct("merchant", "DiscountRedeemed")
    )
    if any(n != 1 for n in redeemed.values()):
        problems.append("a redemption recorded twice")
    captured = {str(p["reference"]) for p in found.distinct("wallet", "HoldCaptured")}
    if found.records["merchant"] and captured != set(redeemed):
        problems.append(f"captured without redemption: {sorted(captured - set(redeemed))}")
    fares = found.distinct("transit", "FarePaid")
    trips = Counter(str(p["trip_id"]) for p in fares)
    if any(n != 1 for n in trips.values()):
        problems.append("a trip recorded twice")
    paid = {str(p["reference"]) for p in found.distinct("wallet", "CoinsSpent")} | {
        str(p["reference"]) for p in found.distinct("wallet", "ShortfallCompensated")
    }
    for fare in fares:
        if fare["coins"] and str(fare["trip_id"]) not in paid:
            problems.append(f"fare {fare['trip_id']} has no payment at the wallet")
