"""The reference digest algorithm (kgo_contracts.daily_digest) on the schemas' example day:
the canonical JSON, the example digest verifying with the example key, duplicates and
conflicts, and checking from a later day on."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_contracts.daily_digest import (
    LedgerRecord,
    body_of,
    canonical_json,
    day_body,
    digest_sha256,
    verify,
)
from kgo_contracts.examples_digests import EXAMPLE_KEY_PHRASE, example_records, examples

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(EXAMPLE_KEY_PHRASE).digest())


def check(payload: Any) -> str | None:
    try:
        KEY.public_key().verify(
            bytes.fromhex(payload["signature"]), canonical_json(body_of(payload))
        )
    except InvalidSignature:
        return "bad signature"
    return None


def sign(body: dict[str, Any]) -> dict[str, Any]:
    signature = KEY.sign(canonical_json(body)).hex()
    return {**body, "digest_sha256": digest_sha256(body), "signature": signature}


def test_canonical_json_sorts_drops_nulls_and_keeps_thai() -> None:
    value = {"b": 1, "a": {"z": None, "y": 'ขอนแก่น "q"\n'}, "c": [None, 2]}
    assert canonical_json(value) == '{"a":{"y":"ขอนแก่น \\"q\\"\\n"},"b":1,"c":[null,2]}'.encode()
    with pytest.raises(TypeError):
        canonical_json({"amount": 1.5})


def test_the_example_digest_verifies_with_the_example_key() -> None:
    [digest] = [e.model_dump(mode="json") for e in examples()]
    records = example_records()
    result = verify([digest], records, check)
    assert result.ok and result.days_checked == ["2022-06-10"] and result.records == len(records)
    lines = b"".join(r.line + b"\n" for r in records)
    assert digest["records_sha256"] == hashlib.sha256(lines).hexdigest()


def test_duplicates_are_dropped_and_conflicts_reported() -> None:
    [digest] = [e.model_dump(mode="json") for e in examples()]
    records = example_records()
    assert verify([digest, digest], [*records, *records[:5]], check).ok
    other = LedgerRecord(records[3].position, records[3].ce_type, records[3].key,
                         {**records[3].payload, "amount": 7})  # fmt: skip
    problems = verify([digest], [*records, other], check).problems
    assert any("two different ledger records" in p for p in problems)
    forged = {**digest, "closed_at": "2022-06-11T00:00:02+07:00"}
    problems = verify([digest, forged], records, check).problems
    assert any("two different digests" in p for p in problems)


def test_from_a_later_day_the_earlier_records_are_not_needed() -> None:
    records = example_records()
    first = sign(day_body("2022-06-10", None, records, to_position=len(records) + 2,
                          key="k", closed_at="2022-06-11T00:00:01+07:00"))  # fmt: skip
    empty = day_body("2022-06-11", body_of(first), [], to_position=len(records) + 2, key="k",
                     closed_at="2022-06-12T00:00:01+07:00")  # fmt: skip
    assert empty["records_sha256"] == hashlib.sha256(b"").hexdigest()
    assert empty["from_position"] == empty["to_position"] + 1
    second = sign(empty)
    result = verify([first, second], [], check, since="2022-06-11")
    assert result.ok and result.days_checked == ["2022-06-11"] and result.digests == 2
    assert not verify([first, second], [], check).ok  # 10 June's records are missing
    assert not verify([second], records, check).ok  # no first day: the chain does not start
