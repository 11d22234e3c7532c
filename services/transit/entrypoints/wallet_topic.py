"""transit's consumer of the wallet topic: a ``PaymentReceived`` on the bus operator that
names a pending trip is the wallet's answer transit did not record (it stopped in between),
so the trip is finished from it. Every other record is acknowledged unhandled."""

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
            payer_id=event.counter_account_id,
            movement_id=event.movement_id,
            amount=event.amount,
        )

    return dispatch({w.PaymentReceived: payment_received})
