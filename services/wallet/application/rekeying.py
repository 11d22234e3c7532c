"""The one-time re-keying of wallets opened before per-resident data keys (``kgo wallet rekey``).

Such a wallet's claims have ids derived from their blind index and values sealed under the
service key alone; nothing else leads to them, so its download has no personal data and its
erasure cannot shred it nor free its national ID. For each one, in this order:

1. The resident gets a data key (``wallet_data_keys``; the same one again on a rerun) and its
   national ID and phone rows in the blind-index table (the same claim ids again on a rerun).
2. The ledger decides ``RekeyResident``: the legacy claims are superseded and claims of the
   new kind take their place, sealed under the data key and bound to the wallet and field as
   a new registration's are, listed in the resident's record; all in one transaction, so a
   crash leaves the wallet either untouched or done, and a rerun finds what is left.
3. A wallet already erased (before, or while this runs) gets no key: its blind indexes are
   destroyed as an erasure of a new wallet destroys them (or the national ID kept closed,
   ``WALLET_REREGISTRATION_AFTER_ERASURE=false``), and its legacy claims are superseded.

Then every data key still wrapped by a retiring service key (``WALLET_PII_PREVIOUS_KEY``) is
wrapped again under the current one. When nothing needs the old key any more (the report
says so), it is removed and destroyed: whatever it sealed alone (the legacy claims in the
immutable event rows and their backups) then opens nowhere.

Safe beside a serving wallet: every ledger step is an optimistic save (a racing registration,
phone link, erasure or second rekey conflicts on a claim or the record and decides again),
and every table write is an upsert or a compare-and-set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from ..domain.account import Account
from ..domain.identity import IdentityClaim, ResidentRecord, resident_record_id
from ..domain.ids import claim_id
from .resident_commands import RekeyResident
from .resident_data import RESIDENT_KEY_ID, ResidentData
from .resident_ports import Erasure

Result = Literal["rekeyed", "erased", "already", "failed", "planned"]
PAGE = 1000


@dataclass
class LegacyWallet:
    """A wallet with claims of the layout before per-resident keys (superseded or not)."""

    wallet_id: UUID
    claims: list[IdentityClaim]

    @property
    def pending(self) -> bool:
        return any(not c.superseded for c in self.claims)


@dataclass
class RekeyReport:
    """What a run did (or, dry, would do); no personal data, only wallet ids and codes."""

    legacy_wallets: int = 0
    rekeyed: int = 0
    erased: int = 0
    already: int = 0
    planned: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    keys_rewrapped: int = 0
    keys_to_rewrap: int = 0
    #: After the run: legacy claims still not superseded, keys still under the old key.
    legacy_left: int = 0
    previous_key_left: int = 0

    def count(self, wallet_id: UUID, result: Result, code: str = "") -> None:
        if result == "failed":
            self.failed[str(wallet_id)] = code
        else:
            setattr(self, result, getattr(self, result) + 1)

    @property
    def done(self) -> bool:
        """Nothing needs legacy decryption nor the retiring key any more."""
        return not self.failed and self.legacy_left == 0 and self.previous_key_left == 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "done": self.done}


@dataclass
class Rekeying:
    data: ResidentData
    dry_run: bool = False
    report: RekeyReport = field(default_factory=RekeyReport)

    # --- finding the legacy wallets -------------------------------------------------------

    async def legacy_wallets(self) -> list[LegacyWallet]:
        found = await asyncio.to_thread(lambda: list(self._legacy_wallets()))
        self.report.legacy_wallets = len(found)
        return found

    def _legacy_wallets(self) -> Iterator[LegacyWallet]:
        """Every wallet with a claim sealed under the service key, from the notification log
        (claims are never published; the log still lists their creation)."""
        recorder = self.data.ledger.recorder
        by_wallet: dict[UUID, list[IdentityClaim]] = {}
        start = 1
        while True:
            page = recorder.select_notifications(start, PAGE, topics=[IdentityClaim.Claimed.TOPIC])
            for notification in page:
                # The creation event says how the claim was sealed: only a legacy one is loaded.
                created = self.data.ledger.mapper.to_domain_event(notification)
                sealed = getattr(created, "sealed_personal_data", None)
                if sealed is None or getattr(created, "key_id", None) == RESIDENT_KEY_ID:
                    continue
                claim = self._get(UUID(str(notification.originator_id)))
                if isinstance(claim, IdentityClaim) and _sealed_by_service(claim):
                    by_wallet.setdefault(claim.wallet_id, []).append(claim)
            if len(page) < PAGE:
                break
            start = page[-1].id + 1
        for wallet_id, claims in by_wallet.items():
            # A claim its resident's record lists is of the new kind, whatever it holds.
            record = self._get(resident_record_id(wallet_id))
            listed = record.claims if isinstance(record, ResidentRecord) else []
            if legacy := [c for c in claims if c.id not in listed]:
                yield LegacyWallet(wallet_id, legacy)

    def _get(self, aggregate_id: UUID) -> object:
        try:
            found: object = self.data.ledger.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found

    # --- one wallet --------------------------------------------------------------------------

    async def rekey(self, legacy: LegacyWallet) -> Result:
        """Move one wallet to the new layout (or, if erased, shred what leads to it)."""
        wallet_id = legacy.wallet_id
        account = await asyncio.to_thread(self.data.ledger.account, wallet_id)
        if account is None:
            return self._failed(wallet_id, "wallet_not_found")
        if not legacy.pending and not account.erased:
            return self._counted(wallet_id, "already")
        try:
            personal, phone, sealed_phone, claims = await asyncio.to_thread(self._open, legacy)
        except ValueError:  # SealError: the legacy key is gone, or the value was tampered
            if not legacy.pending:
                return self._counted(wallet_id, "already")
            return self._failed(wallet_id, "legacy_unreadable")
        if self.dry_run:
            return self._counted(wallet_id, "planned" if legacy.pending else "already")
        vault, keys = self.data.vault, self.data.keys
        nid_index = vault.blind_index("national_id", str(personal["national_id"]))
        phone_index = None if phone is None else vault.blind_index("phone", phone)
        data_key = None if account.erased else await self.data.data_key(wallet_id, create=True)
        if data_key is None:  # erased (a key is refused to an erased wallet)
            return await self._erased(legacy, claims, nid_index, phone_index)
        nid_claim = await keys.claim("national_id", nid_index)
        if nid_claim is None:
            return self._failed(wallet_id, "registration_closed")
        phone_claim = None if phone_index is None else await keys.claim("phone", phone_index)
        command = self._command(
            legacy, claims, national_id_claim=nid_claim, phone_claim=phone_claim,
            sealed_national_id=data_key.seal("national_id", personal),
            sealed_phone=None if sealed_phone is None
            else data_key.seal("phone", {"phone": phone}),
        )  # fmt: skip
        outcome = await self.data.bus.submit(command)
        if outcome.ok and outcome.body.get("erased"):
            # Erased while this ran: the ledger superseded the legacy claims and added none.
            return await self._erased(legacy, claims, nid_index, phone_index)
        return self._answered(wallet_id, outcome.ok, outcome.body, "rekeyed")

    async def _erased(
        self, legacy: LegacyWallet, claims: list[UUID], nid_index: str, phone_index: str | None
    ) -> Result:
        """An erased wallet: its indexes shredded first, then its legacy claims superseded
        (so that a crash between the two is found again by a rerun)."""
        account = await asyncio.to_thread(self.data.ledger.account, legacy.wallet_id)
        if account is None or not account.erased:
            return self._failed(legacy.wallet_id, "data_key_missing")
        await self._shred(account, nid_index, phone_index)
        fresh = await asyncio.to_thread(self._get, legacy.claims[0].id)
        if isinstance(fresh, IdentityClaim) and fresh.superseded:
            return self._counted(legacy.wallet_id, "already" if not legacy.pending else "erased")
        outcome = await self.data.bus.submit(self._command(legacy, claims))
        return self._answered(legacy.wallet_id, outcome.ok, outcome.body, "erased")

    def _open(
        self, legacy: LegacyWallet
    ) -> tuple[dict[str, Any], str | None, str | None, list[UUID]]:
        """The legacy values opened: the national ID claim's data, the phone (and whether it
        was sealed in a claim of its own, linked later), and every legacy claim id."""
        personal: dict[str, Any] | None = None
        linked: str | None = None
        for claim in legacy.claims:
            opened = self.data.vault.unseal(str(claim.sealed_personal_data))
            if claim.kind == "national_id":
                personal = opened
            elif claim.kind == "phone":
                linked = str(opened["phone"])
        if personal is None or "national_id" not in personal:
            raise ValueError("a legacy wallet without its national ID claim")
        phone = linked or (None if personal.get("phone") is None else str(personal["phone"]))
        ids = [c.id for c in legacy.claims]
        if phone is not None:
            # The phone's legacy claim holds no value (the national ID claim does): found by
            # the id derived from its blind index.
            derived = claim_id("phone", self.data.vault.blind_index("phone", phone))
            found = self._get(derived)
            mine = isinstance(found, IdentityClaim) and found.wallet_id == legacy.wallet_id
            if derived not in ids and mine:
                ids.append(derived)
        return personal, phone, linked, ids

    def _command(self, legacy: LegacyWallet, claims: list[UUID], **kw: Any) -> RekeyResident:
        return RekeyResident(
            idempotency_key=f"rekey:{legacy.wallet_id}:{uuid4().hex}", caller="cli:rekey",
            at=self.data.clock.now(), wallet_id=legacy.wallet_id, legacy_claims=tuple(claims),
            key_id=RESIDENT_KEY_ID, **kw,
        )  # fmt: skip

    async def _shred(self, account: Account, nid_index: str, phone_index: str | None) -> None:
        """An erased wallet's blind indexes destroyed (the national ID's kept closed if the
        person may not register again): what an erasure of a new wallet does. Rows that now
        lead to another wallet (the person registered again) are left alone."""
        keys, wallet_id = self.data.keys, account.id
        keep = not self.data.reregistration
        nid = await (keys.claim("national_id", nid_index) if keep else keys.find_claim(nid_index))
        rows = [nid]
        if phone_index is not None:
            rows.append(await keys.find_claim(phone_index))
        own = [c for c in rows if c is not None and await self._owned(c, wallet_id)]
        erasure = await keys.erasure(wallet_id) or Erasure(
            wallet_id, "erased before re-keying", "rekey", "cli:rekey", self.data.clock.now()
        )
        await keys.erase(erasure, own, keep_national_id=keep)

    async def _owned(self, claim: UUID, wallet_id: UUID) -> bool:
        found = await asyncio.to_thread(self._get, claim)
        return found is None or (isinstance(found, IdentityClaim) and found.wallet_id == wallet_id)

    def _answered(self, wallet_id: UUID, ok: bool, body: dict[str, Any], done: Result) -> Result:
        if ok:
            return self._counted(wallet_id, done)
        if body.get("code") == "already_rekeyed":  # another run got there first
            return self._counted(wallet_id, "already")
        return self._failed(wallet_id, str(body.get("code", "refused")))

    def _counted(self, wallet_id: UUID, result: Result) -> Result:
        self.report.count(wallet_id, result)
        return result

    def _failed(self, wallet_id: UUID, code: str) -> Result:
        self.report.count(wallet_id, "failed", code)
        return "failed"

    # --- the service key's rotation --------------------------------------------------------

    async def rewrap_keys(self) -> None:
        """Wrap again under the current service key every data key the retiring one wraps."""
        vault, keys = self.data.vault, self.data.keys
        after: UUID | None = None
        while page := await keys.wrapped_keys(after, PAGE):
            for wallet_id, wrapped in page:
                try:
                    new = vault.rewrap(wallet_id, wrapped)
                except ValueError:
                    self.report.failed[str(wallet_id)] = "data_key_unreadable"
                    continue
                if new is None:
                    continue
                if self.dry_run:
                    self.report.keys_to_rewrap += 1
                elif await keys.replace_key(wallet_id, wrapped, new):
                    self.report.keys_rewrapped += 1
            after = page[-1][0]

    async def remaining(self) -> None:
        """What still needs the legacy format or the retiring key (for the report)."""
        wallets = await asyncio.to_thread(lambda: list(self._legacy_wallets()))
        self.report.legacy_left = sum(1 for w in wallets for c in w.claims if not c.superseded)
        left, after = 0, None
        while page := await self.data.keys.wrapped_keys(after, PAGE):
            for wallet_id, wrapped in page:
                if not self.data.vault.is_current(wrapped, context=f"data-key:{wallet_id}"):
                    left += 1
            after = page[-1][0]
        self.report.previous_key_left = left


def _sealed_by_service(claim: IdentityClaim) -> bool:
    """A claim of the legacy layout: a value sealed under the service key, not the resident's."""
    return claim.sealed_personal_data is not None and claim.key_id != RESIDENT_KEY_ID
