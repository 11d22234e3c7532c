"""Identity claims: one wallet per person.

A claim's id is derived from a keyed blind index of a national ID or a phone number, so a
second registration with either finds the claim and is refused. The claim on the national ID
also keeps the resident's personal data, sealed (encrypted) by the caller before it gets here;
nothing in a claim is ever published.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate


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
