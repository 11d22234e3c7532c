"""Command receipts: the first answer to each idempotency key, saved in the same atomic save
as the command's effect. The receipt id comes from the caller and the key, so two concurrent
commands with one key cannot both be saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import IdempotencyConflict


class CommandReceipt(Aggregate):
    TOPIC = "kgo.missions.CommandReceipt"

    class Created(Aggregate.Created):
        TOPIC = "kgo.missions.CommandReceipt.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kgo.missions.CommandReceipt.Recorded"
        command: str
        request_hash: str
        code: str | None
        answer: dict[str, Any]
        occurred_at: datetime

    def __init__(
        self,
        command: str,
        request_hash: str,
        code: str | None,
        answer: dict[str, Any],
        occurred_at: datetime,
    ) -> None:
        self.command = command
        self.request_hash = request_hash
        self.code = code
        self.answer = answer
        self.occurred_at = occurred_at

    @classmethod
    def record(
        cls,
        receipt_id: UUID,
        *,
        command: str,
        request_hash: str,
        code: str | None,
        answer: dict[str, Any],
        at: datetime,
    ) -> CommandReceipt:
        """``code`` None: the command succeeded with ``answer``; else it was refused."""
        return cls._create(
            cls.Recorded,
            id=receipt_id,
            command=command,
            request_hash=request_hash,
            code=code,
            answer=answer,
            occurred_at=at,
        )

    def replay_for(self, command: str, request_hash: str) -> tuple[str | None, dict[str, Any]]:
        if (command, request_hash) != (self.command, self.request_hash):
            raise IdempotencyConflict("this idempotency key was already used for another request")
        return self.code, self.answer
