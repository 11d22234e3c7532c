"""Command receipts: the first answer to each idempotency key, saved with the command's effect.

A receipt's id is derived from the caller and the key, so two concurrent commands with one key
cannot both be saved: the second save conflicts, reloads, and finds the first answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import IdempotencyConflict


class CommandReceipt(Aggregate):
    TOPIC = "kgo.wallet.CommandReceipt"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.CommandReceipt.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kgo.wallet.CommandReceipt.Recorded"
        command: str
        request_hash: str
        status: int
        answer: dict[str, Any]
        occurred_at: datetime

    def __init__(
        self,
        command: str,
        request_hash: str,
        status: int,
        answer: dict[str, Any],
        occurred_at: datetime,
    ) -> None:
        self.command = command
        self.request_hash = request_hash
        self.status = status
        self.answer = answer
        self.occurred_at = occurred_at

    @classmethod
    def record(
        cls,
        receipt_id: UUID,
        *,
        command: str,
        request_hash: str,
        status: int,
        answer: dict[str, Any],
        at: datetime,
    ) -> CommandReceipt:
        return cls._create(
            cls.Recorded,
            id=receipt_id,
            command=command,
            request_hash=request_hash,
            status=status,
            answer=answer,
            occurred_at=at,
        )

    def replay_for(self, command: str, request_hash: str) -> tuple[int, dict[str, Any]]:
        """The first answer, if this is the same request again; refused if the key was used
        for a different request."""
        if (command, request_hash) != (self.command, self.request_hash):
            raise IdempotencyConflict(
                "this idempotency key was already used for a different request"
            )
        return self.status, self.answer
