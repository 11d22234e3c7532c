"""Closing the ledger's days on an in-memory wallet, across several Bangkok days of a manual
business clock, and checking the digests with the reference verifier, as a subscriber of the
topics would see them (every stored event through the relay's own mapping)."""

from __future__ import annotations

from dataclasses import astuple, replace
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from kgo_contracts.daily_digest import GENESIS, LedgerRecord, canonical_json, verify
from kgo_contracts.digests import DayClosed
from kgo_contracts.wallet import WalletEvent
from kgo_runtime.access import AccessKeyError, AccessSettings
from kgo_runtime.clock import ManualClock
from services.wallet.adapters.contracts import to_contract
from services.wallet.adapters.digest_contracts import with_digests
from services.wallet.adapters.digest_signing import DigestSettings, DigestSigner, signing_key
from services.wallet.application import commands as c
from services.wallet.application.day_closing import DayClosing
from services.wallet.domain.digest_chain import DigestChain, DigestOutOfOrder

from .conftest import Treasury

pytestmark = pytest.mark.unit

SIGNER = DigestSigner(Ed25519PrivateKey.generate())


def published(treasury: Treasury) -> tuple[list[LedgerRecord], list[dict[str, Any]]]:
    """What the relay would put on the ledger topic and the digests topic."""
    mapping = with_digests(to_contract)
    records, digests = [], []
    for n in treasury.ledger.recorder.select_notifications(1, 100_000):
        contract = mapping(treasury.ledger.mapper.to_domain_event(n))
        if isinstance(contract, WalletEvent):
            payload = contract.model_dump(mode="json")
            records.append(LedgerRecord(n.id, contract.ce_type(), contract.key(), payload))
        elif isinstance(contract, DayClosed):
            digests.append(contract.model_dump(mode="json"))
    return records, digests


def signature_check(payload: Any) -> str | None:
    body = {k: v for k, v in payload.items() if k not in ("digest_sha256", "signature")}
    try:
        SIGNER.key.public_key().verify(bytes.fromhex(payload["signature"]), canonical_json(body))
    except (InvalidSignature, ValueError):
        return "bad signature"
    return None


@pytest.fixture
def city(treasury: Treasury) -> tuple[Treasury, ManualClock, DayClosing]:
    clock = ManualClock(treasury.now)
    closing = DayClosing(treasury.ledger, with_digests(to_contract), SIGNER, clock)
    return treasury, clock, closing


def grant(treasury: Treasury, wallet: Any, amount: int) -> None:
    out = treasury.run(c.Grant, programme="welcome", wallet_id=wallet, amount=amount,
                       reason="test", reference=f"r{amount}")  # fmt: skip
    assert out.ok


def test_days_close_at_bangkok_midnight_and_chain(city: Any) -> None:
    treasury, clock, closing = city
    treasury.budget("welcome", 10_000)
    wallet = treasury.resident(1)
    grant(treasury, wallet, 100)
    assert closing.close_due() == []  # 9 June is not over yet
    clock.set(clock.now().replace(hour=23, minute=59))
    assert closing.close_due() == []
    clock.advance(minutes=2)  # 10 June, 00:01 in Bangkok
    [first] = closing.close_due()
    assert first["day"] == "2022-06-09" and first["from_position"] == 1
    assert first["previous_digest_sha256"] == GENESIS
    assert first["totals"]["granted_by_programme"] == {"welcome": 100}
    assert first["totals"]["minted"] == 1_000_000

    treasury.now = clock.now()
    grant(treasury, wallet, 7)
    clock.advance(days=3)  # 13 June: 10, 11 and 12 June close, the last two empty
    days = closing.close_due()
    assert [d["day"] for d in days] == ["2022-06-10", "2022-06-11", "2022-06-12"]
    assert [d["record_count"] for d in days] == [2, 0, 0]
    assert days[0]["from_position"] == first["to_position"] + 1
    assert closing.close_due() == []

    records, digests = published(treasury)
    result = verify(digests, records, signature_check)
    assert result.problems == [] and result.days_checked == [d["day"] for d in [first, *days]]


def tampered(records: list[LedgerRecord]) -> dict[str, list[LedgerRecord]]:
    """The history changed, with a record missing, added or two records reordered."""
    i = next(i for i, r in enumerate(records) if r.ce_type.endswith("CoinsGranted.v1"))
    r = records[i]
    free = min(set(range(1, records[-1].position)) - {x.position for x in records})
    swapped = [LedgerRecord(records[i + 1].position, r.ce_type, r.key, r.payload),
               LedgerRecord(r.position, *astuple(records[i + 1])[1:])]  # fmt: skip
    return {
        "changed": [*records[:i], replace(r, payload={**r.payload, "amount": 1000}),
                    *records[i + 1:]],
        "missing": records[:i] + records[i + 1 :],
        "added": sorted([*records, replace(r, position=free)], key=lambda x: x.position),
        "reordered": [*records[:i], *swapped, *records[i + 2:]],
    }  # fmt: skip


def test_a_tampered_history_fails_verification(city: Any) -> None:
    treasury, clock, closing = city
    treasury.budget("welcome", 10_000)
    wallet = treasury.resident(1)
    grant(treasury, wallet, 100)
    grant(treasury, wallet, 5)
    clock.advance(days=1)
    closing.close_due()
    records, digests = published(treasury)
    assert verify(digests, records, signature_check).ok
    for name, history in tampered(records).items():
        result = verify(digests, history, signature_check)
        assert any("2022-06-09" in p for p in result.problems), name
    forged = {**digests[0], "totals": {**digests[0]["totals"], "granted": 1}}
    problems = verify([forged], records, signature_check).problems
    assert any("bad signature" in p for p in problems)
    assert any("digest_sha256" in p for p in problems)


def test_two_closers_agree(city: Any) -> None:
    """A second wallet process, its chain a day behind, conflicts on the chain's version,
    reads it again and finds the day closed: each day is closed once."""
    treasury, clock, closing = city
    other = DayClosing(treasury.ledger, with_digests(to_contract), SIGNER, clock)
    clock.advance(days=1)
    assert len(closing.close_due()) == 1
    assert other.close_due() == []  # it reads the chain: 9 June is closed
    clock.advance(days=1)
    assert [d["day"] for d in closing.close_due()] == ["2022-06-10"]
    assert other.close_due() == []  # its chain was stale: the save conflicted
    assert other.chain() is not None and other.chain().last["day"] == "2022-06-10"
    _records, digests = published(treasury)
    assert [d["day"] for d in digests] == ["2022-06-09", "2022-06-10"]


def test_days_close_in_order_only() -> None:
    chain = DigestChain.start()
    body = {"day": "2022-06-09", "from_position": 1, "to_position": 5}
    chain.close_day(body, "a", "b")
    with pytest.raises(DigestOutOfOrder):
        chain.close_day({"day": "2022-06-11", "from_position": 6}, "a", "b")
    with pytest.raises(DigestOutOfOrder):
        chain.close_day({"day": "2022-06-10", "from_position": 5}, "a", "b")
    assert chain.next_day == "2022-06-10"


def test_the_signing_key_is_required_in_production(tmp_path: Any) -> None:
    production = AccessSettings(profile="production", home=tmp_path)
    with pytest.raises(AccessKeyError, match="required in production"):
        signing_key(DigestSettings(), production)
    with pytest.raises(AccessKeyError, match="32 bytes"):
        signing_key(DigestSettings(signing_key=SecretStr("c2hvcnQ")), production)
    development = AccessSettings(profile="development", home=tmp_path)
    generated = DigestSigner(signing_key(DigestSettings(), development))
    assert (tmp_path / "secrets" / "digest-signing.key").exists()
    assert DigestSigner(signing_key(DigestSettings(), development)).key_id == generated.key_id
