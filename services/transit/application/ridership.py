"""Ridership statements per route, Bangkok day and hour, folded from the store's own log.

The fold follows the transit event store's notification log (the same total order the relay
publishes), in memory: a process rebuilds it from the log when it first answers a statement
and then reads only what is new. Thousands of trips a day fold in milliseconds; a read table
in Postgres is the next step if years of history make the first fold slow.
"""

from __future__ import annotations

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


class Ridership:
    def __init__(self, store: TransitApplication) -> None:
        self.store = store
        self.position = 0
        self.rows: dict[tuple[str, str, int], Row] = {}
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
        if isinstance(event, Trip.CoinsAsked):
            self.pending.add(event.originator_id)
        elif isinstance(event, Trip.Decided):
            self.pending.discard(event.originator_id)
            at = event.tapped_at.astimezone(BANGKOK)
            key = (event.route_id, at.date().isoformat(), at.hour)
            row = self.rows.get(key) or self.rows.setdefault(key, Row(*key))
            if isinstance(event, Trip.FarePaid):
                row.rides += 1
                row.coin_rides += 1 if event.coins else 0
                row.coins += event.coins
                row.baht_satang += event.baht_satang
                row.shortfall_covered += event.shortfall_covered
                row.offline += 1 if event.offline else 0
            elif isinstance(event, Trip.FareDeclined):
                row.declines[event.reason] += 1
                if event.baht_satang:  # the rider paid the baht fare instead: still a ride
                    row.rides += 1
                    row.baht_satang += event.baht_satang
                    row.offline += 1 if event.offline else 0

    def statement(
        self, *, route_id: str | None = None, first: date | None = None, last: date | None = None
    ) -> list[dict[str, Any]]:
        self.catch_up()
        with self._lock:
            rows = [
                row
                for row in self.rows.values()
                if (route_id is None or row.route_id == route_id)
                and (first is None or row.day >= first.isoformat())
                and (last is None or row.day <= last.isoformat())
            ]
            return [row.answer() for row in sorted(rows, key=lambda r: (r.route_id, r.day, r.hour))]
