"""transit's consumer of the wallet topic: a credit leg to the bus operator that names a
pending trip is the wallet's answer transit did not record (it stopped in between), so the
trip is finished from it. Every other record is acknowledged unhandled."""

from __future__ import annotations

import asyncpg

from kgo_contracts import wallet as w
from kgo_runtime.envelope import Envelope
from kgo_runtime.processing import Handler, dispatch

from ..application.fares import FareCollector
from ..application.recovery import finish_trip


def wallet_topic_handler(collector: FareCollector) -> Handler:
    async def payment_received(_conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.event
        assert isinstance(event, w.PaymentReceived)
        await finish_trip(
            collector,
            reference=event.reference,
            payee_id=event.account_id,
            rider_id=event.counter_account_id,
            movement_id=event.movement_id,
        )

    async def shortfall_compensated(_conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.event
        assert isinstance(event, w.ShortfallCompensated)
        await finish_trip(
            collector,
            reference=event.reference,
            payee_id=event.account_id,
            rider_id=event.rider_account_id,
            movement_id=event.movement_id,
            shortfall=event.amount,
        )

    return dispatch(
        {w.PaymentReceived: payment_received, w.ShortfallCompensated: shortfall_compensated}
    )
