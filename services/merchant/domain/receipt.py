"""Command receipts: the first answer to an idempotency key, saved with the command's effect
(the wallet's pattern). Redemptions, rewards and settlements need none: their ids are derived
from the key, so the aggregate itself is the receipt."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import IdempotencyConflict


class CommandReceipt(Aggregate):
    TOPIC = "kgo.merchant.CommandReceipt"

    class Created(Aggregate.Created):
        TOPIC = "kgo.merchant.CommandReceipt.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kgo.merchant.CommandReceipt.Recorded"
        command: str
        request_hash: str
        status: int
        answer: dict[str, Any]
        occurred_at: datetime

    def __init__(
        self, command: str, request_hash: str, status: int, answer: dict[str, Any],
        occurred_at: datetime,
    ) -> None:  # fmt: skip
        self.command, self.request_hash = command, request_hash
        self.status, self.answer, self.occurred_at = status, answer, occurred_at

    @classmethod
    def record(
        cls, receipt_id: UUID, *, command: str, request_hash: str, status: int,
        answer: dict[str, Any], at: datetime,
    ) -> CommandReceipt:  # fmt: skip
        return cls._create(
            cls.Recorded, id=receipt_id, command=command, request_hash=request_hash,
            status=status, answer=answer, occurred_at=at,
        )  # fmt: skip

    def replay_for(self, command: str, request_hash: str) -> tuple[int, dict[str, Any]]:
        if (command, request_hash) != (self.command, self.request_hash):
            raise IdempotencyConflict(
                "this idempotency key was already used for a different request"
            )
        return self.status, self.answer
