"""Ridership statements per route, Bangkok day and hour, folded from the store's own log.

:func:`effect_of` is the fold's one rule: what a stored event changes in the statements
(a row's counters, the trips waiting for the wallet). Two keepers apply it:

* :class:`Ridership` (here), in memory: rebuilt from the log when first read, then only
  what is new (the unit tests, and ``kgo transit statement``'s one-shot read);
* ``adapters/ridership_book.py``, in PostgreSQL, with the log position stored in the same
  transaction as the rows: what ``kgo serve transit`` answers from, so a restart neither
  loses the statements nor folds the whole history again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from kgo_runtime.clock import BANGKOK

from ..domain.trip import Trip
from .service import TransitApplication

SECTION = 500
#: A statement row's key: route, Bangkok day (ISO), hour of the tap.
RowKey = tuple[str, str, int]


@dataclass(frozen=True)
class Effect:
    """What one stored event changes: the trip now waits for the wallet (``asked``), or it
    was decided and counts in the row ``key``."""

    trip_id: UUID
    key: RowKey | None = None
    asked: bool = False
    rides: int = 0
    coin_rides: int = 0
    coins: int = 0
    baht_satang: int = 0
    shortfall_covered: int = 0
    offline: int = 0
    decline: str | None = None


def effect_of(event: object) -> Effect | None:
    if isinstance(event, Trip.CoinsAsked):
        return Effect(event.originator_id, asked=True)
    if not isinstance(event, Trip.Decided):
        return None
    at = event.tapped_at.astimezone(BANGKOK)
    key = (event.route_id, at.date().isoformat(), at.hour)
    offline = 1 if event.offline else 0
    if isinstance(event, Trip.FarePaid):
        return Effect(
            event.originator_id,
            key,
            rides=1,
            coin_rides=1 if event.coins else 0,
            coins=event.coins,
            baht_satang=event.baht_satang,
            shortfall_covered=event.shortfall_covered,
            offline=offline,
        )
    if isinstance(event, Trip.FareDeclined):
        if event.baht_satang:  # the rider paid the baht fare instead: still a ride
            return Effect(
                event.originator_id,
                key,
                rides=1,
                baht_satang=event.baht_satang,
                offline=offline,
                decline=event.reason,
            )
        return Effect(event.originator_id, key, decline=event.reason)
    return Effect(event.originator_id, key)


@dataclass
class Row:
    route_id: str
    day: str
    hour: int
    rides: int = 0
    coin_rides: int = 0
    coins: int = 0
    baht_satang: int = 0
    shortfall_covered: int = 0
    offline: int = 0
    declines: Counter[str] = field(default_factory=Counter)

    def add(self, effect: Effect) -> None:
        self.rides += effect.rides
        self.coin_rides += effect.coin_rides
        self.coins += effect.coins
        self.baht_satang += effect.baht_satang
        self.shortfall_covered += effect.shortfall_covered
        self.offline += effect.offline
        if effect.decline is not None:
            self.declines[effect.decline] += 1

    def answer(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "day": self.day,
            "hour": self.hour,
            "rides": self.rides,
            "coin_rides": self.coin_rides,
            "coins": self.coins,
            "baht_satang": self.baht_satang,
            "shortfall_covered": self.shortfall_covered,
            "offline_rides": self.offline,
            "declines": dict(sorted(self.declines.items())),
        }


def select(
    rows: list[Row], route_id: str | None, first: date | None, last: date | None
) -> list[dict[str, Any]]:
    chosen = [
        row
        for row in rows
        if (route_id is None or row.route_id == route_id)
        and (first is None or row.day >= first.isoformat())
        and (last is None or row.day <= last.isoformat())
    ]
    return [row.answer() for row in sorted(chosen, key=lambda r: (r.route_id, r.day, r.hour))]


class Ridership:
    def __init__(self, store: TransitApplication) -> None:
        self.store = store
        self.position = 0
        self.rows: dict[RowKey, Row] = {}
        #: Trips whose coins were asked and whose answer is not recorded yet.
        self.pending: set[UUID] = set()
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            while True:
                notifications = self.store.recorder.select_notifications(self.position + 1, SECTION)
                for notification in notifications:
                    self.fold(self.store.mapper.to_domain_event(notification))
                    self.position = notification.id
                if len(notifications) < SECTION:
                    return

    def fold(self, event: object) -> None:
        effect = effect_of(event)
        if effect is None:
            return
        if effect.asked:
            self.pending.add(effect.trip_id)
            return
        self.pending.discard(effect.trip_id)
        if effect.key is not None:
            row = self.rows.get(effect.key) or self.rows.setdefault(effect.key, Row(*effect.key))
            row.add(effect)

    def statement(
        self, *, route_id: str | None = None, first: date | None = None, last: date | None = None
    ) -> list[dict[str, Any]]:
        self.catch_up()
        with self._lock:
            return select(list(self.rows.values()), route_id, first, last)

    # --- the statements port the HTTP API reads (adapters/ridership_book.py is the other) ---

    async def read(
        self, *, route_id: str | None = None, first: date | None = None, last: date | None = None
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.statement, route_id=route_id, first=first, last=last)

    async def pending_trips(self) -> int:
        await asyncio.to_thread(self.catch_up)
        return len(self.pending)
