"""The digest example: the wallet's records of the example day (10 June 2022), at stored-log
positions 1, 2, 3, … in story order, closed and signed with a made-up example key (its seed
is SHA-256 of ``EXAMPLE_KEY_PHRASE``; never a real key)."""

from __future__ import annotations

import hashlib
from typing import Any

from .base import ContractEvent
from .daily_digest import LedgerRecord, canonical_json, day_body, digest_sha256, key_id
from .digests import DayClosed
from .examples import wallet_story

EXAMPLE_KEY_PHRASE = b"kgo example digest key: not a real key"


def example_records() -> list[LedgerRecord]:
    return [
        LedgerRecord(position, event.ce_type(), event.key(), event.model_dump(mode="json"))
        for position, event in enumerate(wallet_story(), start=1)
    ]


def example_signed(body: dict[str, Any]) -> DayClosed:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(EXAMPLE_KEY_PHRASE).digest())
    signature = key.sign(canonical_json(body)).hex()
    return DayClosed.model_validate(
        {**body, "digest_sha256": digest_sha256(body), "signature": signature}
    )


def example_key_id() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(EXAMPLE_KEY_PHRASE).digest())
    return key_id(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def examples() -> list[ContractEvent]:
    records = example_records()
    body = day_body(
        "2022-06-10",
        None,
        records,
        to_position=len(records),
        key=example_key_id(),
        closed_at="2022-06-11T00:00:01+07:00",
    )
    return [example_signed(body)]
