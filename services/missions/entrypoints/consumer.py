"""The Kafka side: facts about residents heard on the wallet, merchant and transit topics.

The real consumer (``kgo_runtime.consumer.IdempotentConsumer``) and the in-memory test
harness both call :func:`handler`'s dispatch, so a contract example fed to the harness
takes exactly the path a record from the broker takes.

Exactly once: the consumer stores the record's position and ``ce_id`` in its asyncpg
transaction, but the effect is saved by the eventsourcing application on another
connection, so the two commits are not atomic. A crash between them re-delivers the record;
:meth:`MissionsApplication.observe` then finds the fact (by ``ce_id``) already on the
resident's progress and changes nothing, and completion ids are deterministic, so no
completion is ever recorded twice.

The service runs the consumer in batched mode (:func:`batch_handler`): a poll's records of
one partition in one inbox transaction and one save of every progress they change
(:meth:`MissionsApplication.observe_many`); a batch that fails for good is applied again
one record at a time (the same handler, a batch of one), so only the poisoned record is
dead-lettered. :func:`handler` is the per-record form, one save a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from kgo_contracts.merchant import DiscountRedeemed
from kgo_contracts.transit import FarePaid
from kgo_contracts.wallet import AccountOpened
from kgo_runtime.envelope import Envelope
from kgo_runtime.processing import BatchHandler, Handler, dispatch

from ..application.service import MissionsApplication
from ..domain.facts import Fact, FactKind


def fact_of(envelope: Envelope) -> tuple[UUID, Fact] | None:
    """The resident and fact a record tells of, at the event's own business time."""
    event = envelope.event
    if isinstance(event, AccountOpened):
        if event.account_kind != "resident":
            return None
        return event.account_id, Fact(envelope.id, FactKind.ACCOUNT_OPENED, event.occurred_at)
    if isinstance(event, FarePaid):
        return event.wallet_id, Fact(envelope.id, FactKind.FARE_PAID, event.occurred_at)
    if isinstance(event, DiscountRedeemed):
        fact = Fact(
            envelope.id, FactKind.DISCOUNT_REDEEMED, event.occurred_at, shop_id=event.shop_id
        )
        return event.wallet_id, fact
    return None


def handler(missions: MissionsApplication) -> Handler:
    async def observe(_conn: asyncpg.Connection, envelope: Envelope) -> None:
        found = fact_of(envelope)
        if found is not None:
            await asyncio.to_thread(missions.observe, *found)

    return dispatch({AccountOpened: observe, FarePaid: observe, DiscountRedeemed: observe})


def batch_handler(missions: MissionsApplication) -> BatchHandler:
    """The batched consumer's handler: every fact of the batch in one save."""

    async def observe_all(_conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        facts = [found for envelope in envelopes if (found := fact_of(envelope)) is not None]
        if facts:
            await asyncio.to_thread(missions.observe_many, facts)

    return observe_all
