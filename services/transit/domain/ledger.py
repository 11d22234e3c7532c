"""The deny list validators download, and the operator's settlements with the municipality."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import NotDenied
from .ids import DENY_LIST_ID, settlement_key


class DenyList(Aggregate):
    """Digests of the passes that went over their offline allowance, until an operator
    reinstates them."""

    TOPIC = "kgo.transit.DenyList"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.DenyList.Created"

    class PassDenied(Aggregate.Event):
        TOPIC = "kgo.transit.DenyList.PassDenied"
        pass_digest: str
        reason: str
        shortfall: int
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.digests[self.pass_digest] = self.occurred_at

    class PassReinstated(Aggregate.Event):
        TOPIC = "kgo.transit.DenyList.PassReinstated"
        pass_digest: str
        reason: str
        forgiven_coins: int
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.digests.pop(self.pass_digest, None)

    def __init__(self) -> None:
        self.digests: dict[str, datetime] = {}

    @classmethod
    def create(cls) -> DenyList:
        return cls._create(cls.Created, id=DENY_LIST_ID)

    def deny(self, pass_digest: str, reason: str, shortfall: int, at: datetime) -> None:
        if pass_digest not in self.digests:
            self.trigger_event(
                self.PassDenied,
                pass_digest=pass_digest,
                reason=reason,
                shortfall=shortfall,
                occurred_at=at,
            )

    def reinstate(self, pass_digest: str, reason: str, forgiven_coins: int, at: datetime) -> None:
        if pass_digest not in self.digests:
            raise NotDenied("this pass is not on the deny list")
        self.trigger_event(
            self.PassReinstated,
            pass_digest=pass_digest,
            reason=reason,
            forgiven_coins=forgiven_coins,
            occurred_at=at,
        )


class Settlement(Aggregate):
    """The operator returned coins to a programme budget for baht paid outside KGO."""

    TOPIC = "kgo.transit.Settlement"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.Settlement.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kgo.transit.Settlement.Recorded"
        operator_account_id: UUID
        programme: str
        coins: int
        baht_satang: int
        payment_reference: str
        movement_id: UUID
        occurred_at: datetime

    def __init__(
        self,
        operator_account_id: UUID,
        programme: str,
        coins: int,
        baht_satang: int,
        payment_reference: str,
        movement_id: UUID,
        occurred_at: datetime,
    ) -> None:
        self.operator_account_id = operator_account_id
        self.programme = programme
        self.coins = coins
        self.baht_satang = baht_satang
        self.payment_reference = payment_reference
        self.movement_id = movement_id
        self.occurred_at = occurred_at

    @classmethod
    def record(
        cls,
        *,
        operator_account_id: UUID,
        programme: str,
        coins: int,
        baht_satang: int,
        payment_reference: str,
        movement_id: UUID,
        at: datetime,
    ) -> Settlement:
        return cls._create(
            cls.Recorded,
            id=settlement_key(payment_reference),
            operator_account_id=operator_account_id,
            programme=programme,
            coins=coins,
            baht_satang=baht_satang,
            payment_reference=payment_reference,
            movement_id=movement_id,
            occurred_at=at,
        )


class Receipt(Aggregate):
    """The first answer to an idempotency key of an administrative write."""

    TOPIC = "kgo.transit.Receipt"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.Receipt.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kgo.transit.Receipt.Recorded"
        request_hash: str
        status: int
        answer: dict[str, Any]

    def __init__(self, request_hash: str, status: int, answer: dict[str, Any]) -> None:
        self.request_hash = request_hash
        self.status = status
        self.answer = answer

    @classmethod
    def record(
        cls, receipt_id: UUID, request_hash: str, status: int, answer: dict[str, Any]
    ) -> Receipt:
        return cls._create(
            cls.Recorded, id=receipt_id, request_hash=request_hash, status=status, answer=answer
        )
