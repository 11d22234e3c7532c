"""The merchant's event store seen from async code: eventsourcing calls run in a worker
thread, so the event loop (HTTP, Kafka heartbeats) never blocks on Postgres."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from .service import MerchantApplication

A = TypeVar("A", bound=Aggregate)

__all__ = ["Conflict", "Store", "request_hash"]


class Conflict(Exception):
    """Another writer saved one of these aggregates first: reload and decide again."""


def request_hash(command: str, fields: dict[str, Any]) -> str:
    """A stable digest of a request, to tell a retry from another request with the same key."""
    body = orjson.dumps([command, fields], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()


class Store:
    def __init__(self, application: MerchantApplication) -> None:
        self.application = application

    def get_now(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        try:
            found: Aggregate = self.application.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(found, kind):
            return None
        return found

    async def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        return await asyncio.to_thread(self.get_now, aggregate_id, kind)

    async def save(self, *aggregates: Aggregate) -> None:
        try:
            await asyncio.to_thread(self.application.save, *aggregates)
        except IntegrityError as error:
            raise Conflict(str(error)) from error
