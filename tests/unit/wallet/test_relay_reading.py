"""The relay reads stored account events straight to their contracts (``read_stored``): every
record must be byte for byte what the domain event path gives, for every kind of account
event, on the stock JSON transcoder and on the wallet's own."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Notification

from kgo_runtime.metrics import Metrics
from kgo_runtime.relay import ReadStored, Relay
from services.wallet.adapters.contracts import is_internal_topic, read_stored, to_contract
from services.wallet.application import commands as c
from services.wallet.application.circulation import CoverShortfall, Refund, Reward, Settle
from services.wallet.application.ledger import WalletLedger
from services.wallet.application.resident_commands import EraseResident

from .conftest import Treasury

pytestmark = pytest.mark.unit

ORJSON = {"TRANSCODER_TOPIC": "kgo_runtime.transcoder:OrjsonTranscoder"}


def relay_for(ledger: WalletLedger, **options: Any) -> Relay:
    return Relay(
        ledger, to_contract, name="test", source="/kgo/wallet", kafka_bootstrap="127.0.0.1:1",
        db="postgresql://nobody@127.0.0.1:1/none", metrics=Metrics("test"),
        internal_topic=is_internal_topic, batch_size=10_000, **options,
    )  # fmt: skip


def every_kind_of_entry(t: Treasury) -> None:
    """Genesis, allocations and a return, grants (one refused), spends, holds captured,
    released and expired, refunds, rewards, a settlement, a covered shortfall, an erasure."""
    t.budget("welcome", 10_000)
    t.budget("shop-matching", 100)
    t.budget("offline-loss", 80)
    assert t.run(c.ReturnBudget, programme="welcome", amount=10, memo="back").ok
    resident, rider, shop = t.resident(1), t.resident(2), t.shop("shop-1")
    bus = UUID(
        t.run(c.OpenPayee, kind="operator", external_ref="bus", label="Bus").body["account_id"]
    )
    grant = {"programme": "welcome", "reason": "signup", "reference": "s"}
    assert t.run(c.Grant, wallet_id=resident, amount=500, **grant).ok
    assert t.run(c.Spend, wallet_id=resident, payee_id=shop, amount=60, reference="ข้าวเหนียว").ok
    holds = []
    for _ in range(3):
        placed = t.run(c.PlaceHold, wallet_id=resident, payee_id=bus, amount=20, reference="h",
                       ttl_seconds=60)  # fmt: skip
        holds.append(UUID(placed.body["hold_id"]))
    assert t.run(c.CaptureHold, wallet_id=resident, hold_id=holds[0], payee_id=bus).ok
    assert t.run(c.ReleaseHold, wallet_id=resident, hold_id=holds[1], payee_id=bus).ok
    t.now += timedelta(seconds=60)
    assert t.run(c.ExpireHold, wallet_id=resident, hold_id=holds[2]).ok
    assert t.run(Refund, payee_id=shop, wallet_id=resident, amount=5, reference="void").ok
    assert t.run(Reward, wallet_id=rider, amount=5, reference="r", payee_id=shop).ok
    match = {"wallet_id": rider, "programme": "shop-matching", "reason": "match"}
    assert t.run(Reward, amount=100, reference="m1", **match).ok
    assert t.run(Reward, amount=1, reference="m2", **match).body["code"] == "budget_exhausted"
    assert t.run(Settle, payee_id=shop, amount=40, programme="welcome", baht_satang=4_000,
                 payment_reference="KTB-1").ok  # fmt: skip
    assert t.run(CoverShortfall, programme="offline-loss", payee_id=bus, wallet_id=rider,
                 amount=20, reference="trip").ok  # fmt: skip
    assert t.run(EraseResident, wallet_id=rider, reference="pdpa-1", reason="asked").ok


@pytest.mark.parametrize("env", [None, ORJSON], ids=["stock-json", "orjson"])
def test_read_stored_gives_the_records_of_the_domain_event_path(env: Any) -> None:
    t = Treasury(WalletLedger(env=env))
    every_kind_of_entry(t)
    readers = read_stored(t.ledger.mapper)
    assert readers is not None
    read_directly: list[str] = []

    def counting(topic: str) -> ReadStored | None:
        read = readers(topic)
        if read is None:
            return None

        def reading(notification: Notification) -> Any:
            got = read(notification)
            if got is not None:
                read_directly.append(type(got[0]).__name__)
            return got

        return reading

    last, records, internal = relay_for(t.ledger)._read_batch(0)
    assert relay_for(t.ledger, read_stored=counting)._read_batch(0) == (last, records, internal)
    assert len(read_directly) == len(records)  # none left to the domain event path
    assert set(read_directly) >= {
        "SupplyMinted", "CoinsTransferredOut", "CoinsTransferredIn", "AccountOpened",
        "GrantDisbursed", "CoinsGranted", "GrantRefused", "CoinsSpent", "PaymentReceived",
        "CoinsHeld", "HoldCaptured", "HoldReleased", "HoldExpired", "RefundPaid",
        "CoinsRefunded", "RewardPaid", "CoinsRewarded", "SettlementPaid", "CoinsSettled",
        "ShortfallCovered", "ShortfallCompensated", "ResidentErased",
    }  # fmt: skip


def test_an_unexpected_stored_state_is_left_to_the_domain_event_path() -> None:
    t = Treasury()
    readers = read_stored(t.ledger.mapper)
    assert readers is not None
    [minted] = [n for n in t.ledger.recorder.select_notifications(1, 100)
                if n.topic.endswith("SupplyMinted")]  # fmt: skip
    read = readers(minted.topic)
    assert read is not None and read(minted) is not None
    odd = [
        minted.state.replace(b'"amount":', b'"class_version":2,"amount":'),  # an upcast
        minted.state.replace(b'"amount":1000000', b'"amount":[1000000]'),  # not flat
        minted.state.replace(b'"amount":1000000', b'"amount":0'),  # refused by the contract
        minted.state.replace(b'"datetime_iso"', b'"other"', 1),  # another tagged type
        minted.state[:-1],  # not JSON: the mapper says which event it could not decode
    ]
    for state in odd:
        assert state != minted.state
        assert read(replace(minted, state=state)) is None
    assert readers("kgo.wallet.CommandReceipt.Recorded") is None
    assert readers("no.such:Topic") is None
