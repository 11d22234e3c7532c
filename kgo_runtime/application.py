"""The eventsourcing application every KGO service's event store derives from.

Its one change is :meth:`ServiceApplication.save`: eventsourcing's save asks of every object
whether it is a domain event and whether it collects events, with ``isinstance`` against
runtime-checkable protocols, which walks each protocol's members: ~10 µs an aggregate, a
twentieth of a tap's CPU in transit. Here an :class:`~eventsourcing.domain.Aggregate` is told
by its class; anything else goes the stock way. What is stored, cached, snapshotted and
notified is the stock save's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording


class ServiceApplication(Application[UUID]):
    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated; the stock save still calls it
        return recordings
