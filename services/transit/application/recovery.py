"""Finishing a trip from the wallet topic: if transit stopped between the wallet's answer
and its own record, the operator's ``PaymentReceived`` carrying the trip id as its reference
is that answer. Recording it is idempotent: a trip that is no longer pending is left alone."""

from __future__ import annotations

import asyncio
from uuid import UUID

from .fares import FareCollector
from .ports import Moved


def trip_of(reference: str) -> tuple[UUID, bool] | None:
    """The trip a wallet reference names, and whether it is the loss budget's shortfall."""
    base, shortfall = reference, False
    if reference.endswith(":shortfall"):
        base, shortfall = reference.removesuffix(":shortfall"), True
    try:
        return UUID(base), shortfall
    except ValueError:
        return None


async def finish_trip(
    collector: FareCollector,
    *,
    reference: str,
    payee_id: UUID,
    payer_id: UUID,
    movement_id: UUID,
    amount: int,
) -> bool:
    """Record a pending trip as paid from the wallet's record of the payment; True if the
    record was a trip's answer (recorded now or before)."""
    if payee_id != collector.operator_id:
        return False
    named = trip_of(reference)
    if named is None:
        return False
    trip_id, shortfall = named
    if shortfall:
        answer = Moved(movement_id, None, shortfall=amount)  # the rider is the pass's wallet
    else:
        answer = Moved(movement_id, payer_id)

    def record() -> bool:
        from ..domain.trip import Trip

        trip = collector.store.find(trip_id, Trip)
        if trip is None:
            return False
        collector.record(trip_id, answer)
        return True

    return await asyncio.to_thread(record)
