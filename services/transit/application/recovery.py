"""Finishing a trip from the wallet topic: if transit stopped between the wallet's answer
and its own record, the wallet's credit leg to the bus operator carrying the trip id as its
reference is that answer (``PaymentReceived`` for the rider's coins, ``ShortfallCompensated``
for the loss budget's). Recording it is idempotent: a trip no longer pending is left alone."""

from __future__ import annotations

import asyncio
from uuid import UUID

from ..domain.trip import Trip
from .fares import FareCollector
from .ports import Moved


async def finish_trip(
    collector: FareCollector,
    *,
    reference: str,
    payee_id: UUID,
    rider_id: UUID,
    movement_id: UUID,
    shortfall: int = 0,
) -> bool:
    """Record a pending trip as paid from the wallet's record of the payment; True if the
    record was a trip's (recorded now or before)."""
    if payee_id != collector.operator_id:
        return False
    try:
        trip_id = UUID(reference)
    except ValueError:
        return False
    answer = Moved(movement_id, rider_id, shortfall=shortfall)

    def record() -> bool:
        if collector.store.find(trip_id, Trip) is None:
            return False
        collector.record(trip_id, answer)
        return True

    return await asyncio.to_thread(record)
