"""Residents' personal data as a whole: sealing it at registration under the resident's own
data key, finding a wallet from a phone, the resident's access request (everything the wallet
holds about them, as JSON) and their erasure (crypto-shredding).

Registration: the request reserves a wallet id and a fresh data key (the same ones on a retry
with the same Idempotency-Key), and gets its claims' random ids from the blind-index table;
the ledger decides with those (``RegisterResident``). Erasure: the ledger marks the wallet
erased (``EraseResident``, published as ``ResidentErased``), then the data key and blind
indexes are destroyed; a retry (or a second erasure) destroys them again, so a crash between
the two steps is healed by running the erasure again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from kgo_runtime.clock import Clock
from kgo_runtime.logging import get_logger

from ..domain.account import RESIDENT
from ..domain.identity import IdentityClaim, ResidentRecord, resident_record_id
from ..domain.ids import claim_id
from .commands import Outcome, RegisterResident
from .ledger import WalletLedger
from .resident_commands import EraseResident, LinkPhone
from .resident_ports import DataKey, Erasure, ResidentKeyStore, Submitter, Vault

log = get_logger(__name__)

#: The ``key_id`` of claims sealed with their resident's own data key (older claims name the
#: service key's id: the legacy path).
RESIDENT_KEY_ID = "resident-data-key"


class DataRefused(Exception):
    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


def request_key(caller: str, idempotency_key: str) -> str:
    """A registration request's identity (its parts encoded, so no two requests share it)."""
    return hashlib.sha256(json.dumps([caller, idempotency_key]).encode()).hexdigest()


@dataclass
class ResidentData:
    vault: Vault
    keys: ResidentKeyStore
    ledger: WalletLedger
    bus: Submitter
    clock: Clock
    #: A wallet's records as published (the contract's JSON), oldest first.
    history: Callable[[UUID], list[dict[str, Any]]]
    return_balance: bool = False
    reregistration: bool = True

    # --- registration -----------------------------------------------------------------------

    async def registration(
        self,
        stamp: dict[str, Any],
        *,
        national_id: str,
        phone: str | None,
        personal: dict[str, Any],
        sealed_extra: dict[str, Any],
        digest_extra: dict[str, Any],
    ) -> RegisterResident:
        """The ledger's command opening a wallet for ``personal`` (the normalised values the
        wallet keeps; ``sealed_extra`` is sealed beside them, ``digest_extra`` makes the
        request's identity beside them)."""
        data_key = await self._reserve(request_key(stamp["caller"], stamp["idempotency_key"]))
        nid_index = self.vault.blind_index("national_id", national_id)
        nid_claim = await self.keys.claim("national_id", nid_index)
        if nid_claim is None:
            raise DataRefused(409, "registration_closed",
                              "this national ID was erased and may not register again")  # fmt: skip
        phone_index = phone_claim = None
        if phone is not None:
            phone_index = self.vault.blind_index("phone", phone)
            phone_claim = await self.keys.claim("phone", phone_index)
        return RegisterResident(
            **stamp,
            national_id_index=nid_index,
            phone_index=phone_index,
            personal_data_digest=data_key.digest({**personal, **digest_extra}),
            sealed_personal_data=data_key.seal("national_id", {**personal, **sealed_extra}),
            key_id=RESIDENT_KEY_ID,
            wallet_id=data_key.wallet_id,
            national_id_claim=nid_claim,
            phone_claim=phone_claim,
        )

    async def _reserve(self, key: str) -> DataKey:
        candidate, wrapped = self.vault.new_data_key(uuid4())
        wallet_id, stored = await self.keys.reserve(key, candidate.wallet_id, wrapped)
        if stored is None:
            raise DataRefused(409, "wallet_erased", "the resident of this request was erased")
        return self.vault.unwrap(wallet_id, stored)

    async def phone_link(
        self, stamp: dict[str, Any], *, wallet_id: UUID, phone_index: str, phone: str
    ) -> LinkPhone:
        data_key = await self.data_key(wallet_id, create=True)
        if data_key is None:
            raise DataRefused(409, "wallet_erased", "this wallet's resident was erased")
        return LinkPhone(
            **stamp,
            wallet_id=wallet_id,
            phone_index=phone_index,
            sealed_phone=data_key.seal("phone", {"phone": phone}),
            key_id=RESIDENT_KEY_ID,
            phone_claim=await self.keys.claim("phone", phone_index),
        )

    async def data_key(self, wallet_id: UUID, *, create: bool = False) -> DataKey | None:
        wrapped = await self.keys.key_of(wallet_id)
        if wrapped is None and create and await self.keys.erasure(wallet_id) is None:
            wrapped = await self.keys.add_key(wallet_id, self.vault.new_data_key(wallet_id)[1])
        return None if wrapped is None else self.vault.unwrap(wallet_id, wrapped)

    # --- finding a wallet ---------------------------------------------------------------------

    async def wallet_of_phone(self, phone_index: str) -> UUID | None:
        """The wallet a phone signs in to (None: none, or its resident was erased)."""
        claim = await self.keys.find_claim(phone_index)
        found = await asyncio.to_thread(self._claim, claim or claim_id("phone", phone_index))
        if found is None or found.superseded:  # a legacy claim re-keyed leads nowhere
            return None
        account = await asyncio.to_thread(self.ledger.account, found.wallet_id)
        return None if account is None or account.erased else found.wallet_id

    def _claim(self, claim: UUID) -> IdentityClaim | None:
        found = self._get(claim)
        return found if isinstance(found, IdentityClaim) else None

    def _record(self, wallet_id: UUID) -> ResidentRecord | None:
        found = self._get(resident_record_id(wallet_id))
        return found if isinstance(found, ResidentRecord) else None

    def _get(self, aggregate_id: UUID) -> object:
        try:
            found: object = self.ledger.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found

    # --- erasure --------------------------------------------------------------------------------

    async def erase(
        self, stamp: dict[str, Any], *, wallet_id: UUID, reason: str, reference: str
    ) -> Outcome:
        command = EraseResident(
            **stamp, wallet_id=wallet_id, reference=reference, reason=reason,
            return_balance=self.return_balance,
        )  # fmt: skip
        outcome = await self.bus.submit(command)
        if outcome.ok or outcome.body.get("code") == "already_erased":
            await self.shred(wallet_id, Erasure(wallet_id, reason, reference, stamp["caller"],
                                                stamp["at"]))  # fmt: skip
        return outcome

    async def shred(self, wallet_id: UUID, erasure: Erasure) -> None:
        """Destroy the key and blind indexes of an erased wallet (again, if they are gone)."""
        record = await asyncio.to_thread(self._record, wallet_id)
        claims = [] if record is None else list(record.claims)
        if record is not None and record.erased_at is not None:
            erasure = Erasure(wallet_id, erasure.reason, erasure.reference,
                              erasure.requested_by, record.erased_at)  # fmt: skip
        await self.keys.erase(erasure, claims, keep_national_id=not self.reregistration)

    # --- access requests ----------------------------------------------------------------------

    async def download(self, wallet_id: UUID, *, at: datetime | None = None) -> dict[str, Any]:
        """Everything the wallet holds about a resident: personal data, account, movements."""
        account = await asyncio.to_thread(self.ledger.account, wallet_id)
        if account is None or account.kind != RESIDENT:
            raise DataRefused(404, "wallet_not_found", f"no resident's wallet {wallet_id}")
        record = await asyncio.to_thread(self._record, wallet_id)
        erasure = await self.keys.erasure(wallet_id) if account.erased else None
        personal: dict[str, Any] | None = None
        if not account.erased:
            personal = await self._personal(wallet_id, record)
        return {
            "wallet_id": str(wallet_id),
            "generated_at": (at or self.clock.now()).isoformat(),
            "erased": account.erased,
            "erasure": None if erasure is None else {
                "erased_at": erasure.erased_at.isoformat(), "reference": erasure.reference,
            },
            "personal_data": personal,
            "notes": _notes(account.erased, record),
            "account": {
                "kind": account.kind,
                "opened_at": account.opened_at.isoformat(),
                "available": account.available,
                "held": account.held,
                "holds": [
                    {"hold_id": h, "amount": v["amount"], "payee_id": v["payee"],
                     "expires_at": v["expires_at"].isoformat(), "reference": v["reference"]}
                    for h, v in sorted(account.holds.items())
                ],
            },
            "movements": await asyncio.to_thread(self.history, wallet_id),
        }  # fmt: skip

    async def _personal(
        self, wallet_id: UUID, record: ResidentRecord | None
    ) -> dict[str, Any] | None:
        if record is None:
            return None
        try:
            data_key = await self.data_key(wallet_id)
        except ValueError:  # SealError: wrapped by a service key this wallet no longer has
            log.error("a data key does not unwrap", wallet_id=str(wallet_id))
            raise DataRefused(500, "personal_data_unreadable",
                              "this resident's data key does not open here") from None  # fmt: skip
        found: dict[str, Any] = {}
        for claim_ref in record.claims:
            claim = await asyncio.to_thread(self._claim, claim_ref)
            if claim is None or claim.sealed_personal_data is None:
                continue
            try:
                if claim.key_id == RESIDENT_KEY_ID:
                    if data_key is None:
                        continue
                    found[claim.kind] = data_key.unseal(claim.kind, claim.sealed_personal_data)
                else:  # sealed under the service key, before per-resident keys
                    found[claim.kind] = self.vault.unseal(claim.sealed_personal_data)
            except ValueError:  # SealError: not this resident's, or tampered
                log.error("a sealed claim does not open for its wallet", wallet_id=str(wallet_id))
                raise DataRefused(
                    500,
                    "personal_data_unreadable",
                    "a sealed value does not open for this resident (moved or tampered)",
                ) from None
        return found


def _notes(erased: bool, record: ResidentRecord | None) -> list[str]:
    if erased:
        return [
            "This resident was erased: their personal data was destroyed (the key that sealed "
            "it is gone). The wallet and its movements stay, under a pseudonymous id."
        ]
    if record is None:
        return [
            "This wallet was opened before per-resident data keys: this download cannot "
            "locate its sealed personal data (services/wallet/README.md, older wallets); "
            "the municipality answers such a request by hand."
        ]
    return []
