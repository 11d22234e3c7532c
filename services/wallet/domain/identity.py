"""Identity claims: one wallet per person.

A claim's id is derived from a keyed blind index of a national ID or a phone number, so a
second registration with either finds the claim and is refused. The claim on the national ID
also keeps the resident's personal data, sealed (encrypted) by the caller before it gets here;
nothing in a claim is ever published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from .ids import KGO_NAMESPACE


class IdentityClaim(Aggregate):
    TOPIC = "kgo.wallet.IdentityClaim"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.IdentityClaim.Created"

    class Claimed(Aggregate.Created):
        TOPIC = "kgo.wallet.IdentityClaim.Claimed"
        kind: str
        wallet_id: UUID
        sealed_personal_data: str | None
        key_id: str | None
        occurred_at: datetime

    class Superseded(Aggregate.Event):
        """A claim of the layout before per-resident keys (its id derived from the blind
        index, sealed under the service key) replaced by a claim of the new kind
        (``kgo wallet rekey``): it no longer counts, and its ciphertext is no longer needed."""

        TOPIC = "kgo.wallet.IdentityClaim.Superseded"
        by: UUID | None
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.superseded_at = self.occurred_at

    #: Set by Superseded (a class default: claims stored before it load unchanged).
    superseded_at: datetime | None = None

    def __init__(
        self,
        kind: str,
        wallet_id: UUID,
        sealed_personal_data: str | None,
        key_id: str | None,
        occurred_at: datetime,
    ) -> None:
        self.kind = kind
        self.wallet_id = wallet_id
        self.sealed_personal_data = sealed_personal_data
        self.key_id = key_id
        self.occurred_at = occurred_at

    @classmethod
    def claim(
        cls,
        claim_id: UUID,
        *,
        kind: str,
        wallet_id: UUID,
        at: datetime,
        sealed_personal_data: str | None = None,
        key_id: str | None = None,
    ) -> IdentityClaim:
        return cls._create(
            cls.Claimed,
            id=claim_id,
            kind=kind,
            wallet_id=wallet_id,
            sealed_personal_data=sealed_personal_data,
            key_id=key_id,
            occurred_at=at,
        )

    @property
    def superseded(self) -> bool:
        return self.superseded_at is not None

    def supersede(self, by: UUID | None, at: datetime) -> None:
        if self.superseded_at is None:
            self.trigger_event(self.Superseded, by=by, occurred_at=at)


def resident_record_id(wallet_id: UUID) -> UUID:
    return uuid5(KGO_NAMESPACE, f"resident:{wallet_id}")


class ResidentRecord(Aggregate):
    """Which identity claims hold a resident's sealed data, and whether the resident was
    erased: what an access request reads and an erasure shreds. Internal, never published.

    Claims opened since per-resident data keys have random ids, reached from a national ID or
    a phone only through the mutable blind-index table, so once its rows are deleted nothing
    links the claims to a person; this record links them to the wallet."""

    TOPIC = "kgo.wallet.ResidentRecord"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.ResidentRecord.Created"

    class Opened(Aggregate.Created):
        TOPIC = "kgo.wallet.ResidentRecord.Opened"
        wallet_id: UUID
        claims: list[UUID]
        occurred_at: datetime

    class ClaimAdded(Aggregate.Event):
        TOPIC = "kgo.wallet.ResidentRecord.ClaimAdded"
        claim_id: UUID
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.claims = [*aggregate.claims, self.claim_id]

    class Erased(Aggregate.Event):
        TOPIC = "kgo.wallet.ResidentRecord.Erased"
        reference: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.erased_at = self.occurred_at
            aggregate.erasure_reference = self.reference

    def __init__(self, wallet_id: UUID, claims: list[UUID], occurred_at: datetime) -> None:
        self.wallet_id = wallet_id
        self.claims = list(claims)
        self.opened_at = occurred_at
        self.erased_at: datetime | None = None
        self.erasure_reference: str | None = None

    @classmethod
    def open(cls, wallet_id: UUID, claims: list[UUID], at: datetime) -> ResidentRecord:
        return cls._create(
            cls.Opened,
            id=resident_record_id(wallet_id),
            wallet_id=wallet_id,
            claims=claims,
            occurred_at=at,
        )

    def add_claim(self, claim_id: UUID, at: datetime) -> None:
        self.trigger_event(self.ClaimAdded, claim_id=claim_id, occurred_at=at)

    def erase(self, reference: str, at: datetime) -> None:
        if self.erased_at is None:
            self.trigger_event(self.Erased, reference=reference, occurred_at=at)
