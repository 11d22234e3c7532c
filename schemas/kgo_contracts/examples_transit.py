"""Examples of the events on ``kgo.transit.events``, in the story of ``examples.py`` (same
morning, same ids)."""

from __future__ import annotations

from .base import ContractEvent
from .examples import RESIDENT, TRIP, _at
from .transit import FarePaid


def examples() -> list[ContractEvent]:
    return [
        FarePaid(
            trip_id=TRIP,
            wallet_id=RESIDENT,
            validator_id="KKB-07-V02",
            route_id="7",
            fare_product="one-baht-bus-2022",
            coins=50,
            baht_satang=100,
            occurred_at=_at(8, 40),
        ),
    ]
