"""kgo_runtime.application.ServiceApplication: its save stores what eventsourcing's stock
save stores (aggregates told by their class, anything else the stock way)."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from kgo_runtime.application import ServiceApplication

pytestmark = pytest.mark.unit


class Counter(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Counted")
    def count_up(self, by: int) -> None:
        self.count += by


class Ours(ServiceApplication):
    name = "ours"


class Stock(Application[Any]):
    name = "stock"


def _history(app: Application[Any]) -> list[tuple[int, str, int]]:
    a, b = Counter("a"), Counter("b")
    app.save(a, None, b)
    a.count_up(2)
    b.count_up(3)
    app.save(a)
    app.save(b, a)  # a has nothing pending: nothing stored for it
    notifications = app.recorder.select_notifications(1, 100)
    return [(n.id, n.topic.rsplit(".", 1)[-1], n.originator_version) for n in notifications]


def test_it_stores_what_the_stock_save_stores() -> None:
    popo = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    assert _history(Ours(env=popo)) == _history(Stock(env=popo))


def test_a_domain_event_is_saved_the_stock_way_and_the_cache_follows_saves() -> None:
    app = Ours(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "10",
                    "AGGREGATE_CACHE_FASTFORWARD": "n"})  # fmt: skip
    counter = Counter("c")
    counter.count_up(1)
    (created, counted) = counter.collect_events()
    recordings = app.save(created, counted)
    assert [r.notification.originator_version for r in recordings] == [1, 2]
    again = app.repository.get(counter.id)
    again.count_up(4)
    app.save(again)
    assert app.repository.cache is not None and app.repository.cache.get(counter.id) is again
    assert app.repository.get(counter.id).count == 5
