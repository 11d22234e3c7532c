"""Signed daily digests on the real broker and Postgres: a wallet crosses four Bangkok days on
a manual business clock (a late offline fare, a republished relay batch, an empty day), its
relay publishes the ledger and the digests, and both `kgo audit verify` and an independent
verifier (tests/integration/independent_verifier.py, no KGO code) recompute everything from
Kafka alone; then copies of the history with a record changed, missing, added or reordered,
or a day's digest missing, fail both."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import SecretStr

from kgo_cli.audit_cmd import RawRecord, audit, read_all
from kgo_contracts.base import BANGKOK
from kgo_runtime.clock import ManualClock
from kgo_runtime.relay import Relay
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.wallet.adapters.contracts import to_contract
from services.wallet.adapters.digest_signing import DigestSettings, DigestSigner
from services.wallet.application import commands as c
from services.wallet.application.circulation import Refund, Settle
from services.wallet.application.ledger import WalletLedger
from services.wallet.entrypoints.day_closer import digest_wiring
from services.wallet.settings import WalletSettings

pytestmark = pytest.mark.integration

BOOTSTRAP = InfraSettings().kafka_bootstrap
VERIFIER = Path(__file__).resolve().parents[1] / "independent_verifier.py"
KEY = Ed25519PrivateKey.generate()
SEED = base64.urlsafe_b64encode(
    KEY.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
).decode()


class City:
    def __init__(self, ledger: WalletLedger, clock: ManualClock) -> None:
        self.ledger, self.clock, self.n = ledger, clock, 0

    def run(self, cls: type[c.Command], at: datetime | None = None, **kw: Any) -> dict[str, Any]:
        self.n += 1
        command = cls(idempotency_key=f"k{self.n}", caller="admin",
                      at=at or self.clock.now(), **kw)  # fmt: skip
        out = self.ledger.execute([command])[0]
        assert out.ok, out
        return out.body

    def resident(self) -> UUID:
        body = self.run(c.RegisterResident, national_id_index=f"n{self.n}",
                        phone_index=f"p{self.n}", personal_data_digest="d",
                        sealed_personal_data="s", key_id="k")  # fmt: skip
        return UUID(body["wallet_id"])

    def payee(self, kind: str, ref: str) -> UUID:
        return UUID(self.run(c.OpenPayee, kind=kind, external_ref=ref, label=ref)["account_id"])


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    names = {"ledger": unique_name("t_digest_ledger"), "digests": unique_name("t_digests")}
    await create_topics(BOOTSTRAP, list(names.values()))
    yield names
    await delete_topics(BOOTSTRAP, list(names.values()))


@pytest.fixture
async def history(
    ledger: WalletLedger, wallet_settings: WalletSettings, topics: dict[str, str]
) -> dict[str, Any]:
    """Four closed days on Kafka; returns what the test needs to look at them."""
    clock = ManualClock(datetime(2022, 6, 9, 9, 0, tzinfo=BANGKOK))
    settings = DigestSettings(topic=topics["digests"], signing_key=SecretStr(SEED))
    wiring = digest_wiring(ledger, to_contract, topics["ledger"], clock, settings)
    assert wiring.closer is not None
    close = wiring.closer.closing.close_due
    relay = Relay(ledger, wiring.to_contract, name="wallet", source="/kgo/wallet",
                  kafka_bootstrap=BOOTSTRAP, db=wallet_settings.database_url,
                  schema=wallet_settings.database_schema, topic_for=wiring.topic_for)  # fmt: skip
    city = City(ledger, clock)
    async with relay:
        # 9 June: the treasury, three residents, their grants, a shop paid through a hold
        city.run(c.MintGenesis)
        city.run(c.OpenBudget, programme="welcome", label="Welcome")
        city.run(c.AllocateBudget, programme="welcome", amount=10_000)
        residents = [city.resident() for _ in range(3)]
        for wallet in residents:
            city.run(c.Grant, programme="welcome", wallet_id=wallet, amount=100,
                     reason="signup", reference=f"s-{wallet}")  # fmt: skip
        shop, bus = city.payee("shop", "noodles"), city.payee("operator", "city-bus")
        hold = city.run(c.PlaceHold, wallet_id=residents[0], payee_id=shop, amount=30,
                        reference="bill-1", ttl_seconds=600)["hold_id"]  # fmt: skip
        city.run(c.CaptureHold, wallet_id=residents[0], hold_id=UUID(hold), payee_id=shop,
                 amount=25)  # fmt: skip
        await relay.drain()
        clock.set(datetime(2022, 6, 10, 0, 0, 30, tzinfo=BANGKOK))
        assert [d["day"] for d in await asyncio.to_thread(close)] == ["2022-06-09"]

        # 10 June: a fare, a refund, a settlement, a hold still open at midnight
        clock.set(datetime(2022, 6, 10, 10, 0, tzinfo=BANGKOK))
        city.run(c.Spend, wallet_id=residents[1], payee_id=bus, amount=1, reference="trip-1")
        city.run(Refund, payee_id=shop, wallet_id=residents[0], amount=5, reference="void-1")
        city.run(Settle, payee_id=shop, amount=10, programme="welcome", baht_satang=1_000,
                 payment_reference="pay-1")  # fmt: skip
        city.run(c.PlaceHold, wallet_id=residents[2], payee_id=shop, amount=7,
                 reference="bill-2", ttl_seconds=86_400 * 3)  # fmt: skip
        clock.set(datetime(2022, 6, 12, 8, 0, tzinfo=BANGKOK))  # 11 June passes without a record
        assert [d["day"] for d in await asyncio.to_thread(close)] == ["2022-06-10", "2022-06-11"]

        # 12 June: an offline fare tapped on 10 June reaches the wallet only now
        tapped = datetime(2022, 6, 10, 18, 0, tzinfo=BANGKOK)
        city.run(c.Spend, at=tapped, wallet_id=residents[2], payee_id=bus, amount=1,
                 reference="offline-trip-2")  # fmt: skip
        await relay.drain()
        clock.set(datetime(2022, 6, 13, 0, 0, 5, tzinfo=BANGKOK))
        assert [d["day"] for d in await asyncio.to_thread(close)] == ["2022-06-12"]
        await relay.drain()
    # at-least-once: the relay restarts from an older position and publishes again
    conn = await asyncpg.connect(wallet_settings.database_url)
    try:
        await conn.execute(f"UPDATE {wallet_settings.database_schema}.relay_positions "
                           "SET position = 20")  # fmt: skip
    finally:
        await conn.close()
    async with relay:
        await relay.drain()
    return {"topics": topics, "signer": DigestSigner(KEY)}


def keys(history: dict[str, Any]) -> dict[str, Any]:
    signer = history["signer"]
    return {signer.key_id: signer.key.public_key()}


def independent(tmp_path: Path, history: dict[str, Any], ledger: str, digests: str) -> int:
    pem = tmp_path / "municipality.pem"
    pem.write_text(history["signer"].public_pem())
    result = subprocess.run(
        [sys.executable, str(VERIFIER), "--bootstrap", BOOTSTRAP, "--ledger-topic", ledger,
         "--digests-topic", digests, "--public-key", str(pem)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    print(result.stdout, result.stderr)
    return result.returncode


async def test_an_honest_history_verifies_and_a_tampered_one_fails(
    history: dict[str, Any], tmp_path: Path
) -> None:
    t = history["topics"]
    result = await audit(BOOTSTRAP, t["ledger"], t["digests"], keys(history))
    assert result.problems == []
    assert result.days_checked == ["2022-06-09", "2022-06-10", "2022-06-11", "2022-06-12"]
    digests = {d["day"]: d for d in _payloads(await read_all(BOOTSTRAP, t["digests"]))}
    assert digests["2022-06-09"]["totals"]["granted_by_programme"] == {"welcome": 300}
    assert digests["2022-06-09"]["totals"]["spent_at_shops"] == 25
    assert digests["2022-06-10"]["totals"]["held_at_close"] == 7
    assert digests["2022-06-10"]["totals"]["fares"] == 1  # the late fare is not here...
    assert digests["2022-06-12"]["totals"]["fares"] == 1  # ...but on the day it was recorded
    assert digests["2022-06-11"]["record_count"] == 0
    assert independent(tmp_path, history, t["ledger"], t["digests"]) == 0

    pem = tmp_path / "municipality.pem"
    cli = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "audit", "verify", "--ledger-topic", t["ledger"],
         "--digests-topic", t["digests"], "--key", str(pem), "--from", "2022-06-10"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "every digest verifies" in cli.stdout

    await tampering_fails(history, tmp_path)


def _payloads(raw: list[RawRecord]) -> list[dict[str, Any]]:
    import json

    return [json.loads(r.value or b"") for r in raw]


def tampered(raw: list[RawRecord]) -> dict[str, list[RawRecord]]:
    """Copies of the ledger, each with one kind of change."""
    import json
    from dataclasses import replace

    unique = {r.headers["kgo_position"]: r for r in raw}
    ordered = sorted(unique.values(), key=lambda r: int(r.headers["kgo_position"]))
    grant = next(i for i, r in enumerate(ordered) if r.headers["ce_type"].endswith("Granted.v1"))
    r = ordered[grant]
    changed = replace(r, value=json.dumps({**json.loads(r.value or b""), "amount": 99}).encode())
    free = next(p for p in range(1, 10_000) if str(p) not in unique)
    added = replace(r, headers={**r.headers, "kgo_position": str(free)})
    a, b = ordered[grant], ordered[grant + 1]
    swapped = [
        replace(a, headers={**a.headers, "kgo_position": b.headers["kgo_position"]}),
        replace(b, headers={**b.headers, "kgo_position": a.headers["kgo_position"]}),
    ]
    return {
        "changed": [*ordered[:grant], changed, *ordered[grant + 1:]],
        "missing": ordered[:grant] + ordered[grant + 1:],
        "added": [*ordered, added],
        "reordered": [*ordered[:grant], *swapped, *ordered[grant + 2:]],
    }  # fmt: skip


async def _publish(topic: str, records: list[RawRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        for r in records:
            headers = [(k, v.encode()) for k, v in r.headers.items()]
            await producer.send(topic, r.value, key=(r.key or "").encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def tampering_fails(history: dict[str, Any], tmp_path: Path) -> None:
    """Copies of the history with a record changed, missing, added or reordered, and one
    without a day's digest: both verifiers fail each."""
    t = history["topics"]
    raw = await read_all(BOOTSTRAP, t["ledger"])
    cases = tampered(raw)
    copies = {name: unique_name(f"t_tampered_{name}") for name in cases}
    dropped_day = unique_name("t_tampered_digests")
    await create_topics(BOOTSTRAP, [*copies.values(), dropped_day])
    try:
        for name, records in cases.items():
            await _publish(copies[name], records)
        digests = await read_all(BOOTSTRAP, t["digests"])
        await _publish(dropped_day, [d for d in digests if d.key != "2022-06-10"])
        for name, topic in copies.items():
            result = await audit(BOOTSTRAP, topic, t["digests"], keys(history))
            assert any("2022-06-09" in p for p in result.problems), (name, result.problems)
            assert independent(tmp_path, history, topic, t["digests"]) == 1, name
        result = await audit(BOOTSTRAP, t["ledger"], dropped_day, keys(history))
        assert any("days between have no digest" in p for p in result.problems)
        assert independent(tmp_path, history, t["ledger"], dropped_day) == 1
    finally:
        await delete_topics(BOOTSTRAP, [*copies.values(), dropped_day])
