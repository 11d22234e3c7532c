"""Wallets as the wallet stored them before per-resident data keys, for tests of the re-keying
(``application/rekeying.py``): the same aggregates, ids and ciphertext the old code wrote.

- the account, and a ``national_id`` claim whose id derives from the national ID's blind
  index, its value (national ID, phone, name...) sealed under the service key with only the
  key's id as associated data, its ``key_id`` that id;
- with a phone, a ``phone`` claim at the id derived from the phone's index (no value);
  without one, a ``phone_pending`` claim; a phone linked later, a ``phone`` claim with the
  phone sealed the same way, and ``phone_linked``;
- no resident record, no data key, no row in the blind-index table.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import Application

from .adapters.personal_data import PersonalDataVault
from .application.resident_handlers import PHONE_LINKED, PHONE_PENDING, phone_pending_claim
from .domain.account import RESIDENT, Account
from .domain.identity import IdentityClaim
from .domain.ids import claim_id


def seal_legacy(vault: PersonalDataVault, data: dict[str, Any]) -> str:
    """A value in the format before per-resident keys (no prefix, bound to the key id only)."""
    nonce = os.urandom(12)
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    sealed = AESGCM(vault.seal_key).encrypt(nonce, raw, vault.key_id.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_legacy_wallet(
    ledger: Application[UUID],
    vault: PersonalDataVault,
    *,
    national_id: str,
    at: datetime,
    phone: str | None = None,
    linked_phone: str | None = None,
    extra: dict[str, Any] | None = None,
) -> UUID:
    """Store a legacy resident's wallet (blocking); its id."""
    wallet = Account.open(uuid4(), RESIDENT, at)
    personal = {"national_id": national_id, "phone": phone, **(extra or {})}
    nid = vault.blind_index("national_id", national_id)
    claims = [
        IdentityClaim.claim(
            claim_id("national_id", nid), kind="national_id", wallet_id=wallet.id, at=at,
            sealed_personal_data=seal_legacy(vault, personal), key_id=vault.key_id,
        )
    ]  # fmt: skip
    if phone is not None:
        phone_id = claim_id("phone", vault.blind_index("phone", phone))
        claims.append(IdentityClaim.claim(phone_id, kind="phone", wallet_id=wallet.id, at=at))
    else:
        pending = phone_pending_claim(wallet.id)
        claims.append(IdentityClaim.claim(pending, kind=PHONE_PENDING, wallet_id=wallet.id, at=at))
    if linked_phone is not None:
        linked = seal_legacy(vault, {"phone": linked_phone})
        phone_id = claim_id("phone", vault.blind_index("phone", linked_phone))
        claims += [
            IdentityClaim.claim(phone_id, kind="phone", wallet_id=wallet.id, at=at,
                                sealed_personal_data=linked, key_id=vault.key_id),
            IdentityClaim.claim(claim_id(PHONE_LINKED, str(wallet.id)), kind=PHONE_LINKED,
                                wallet_id=wallet.id, at=at),
        ]  # fmt: skip
    ledger.save(wallet, *claims)
    return wallet.id
