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
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg

from kgo_contracts.merchant import DiscountRedeemed
from kgo_contracts.transit import FarePaid
from kgo_contracts.wallet import AccountOpened
from kgo_runtime.envelope import Envelope
from kgo_runtime.processing import Handler, dispatch

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
