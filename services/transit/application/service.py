"""The transit event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application


class TransitApplication(Application[UUID]):
    """The transit service's event store.

    ``name`` is pinned: it names the events table (``transit_events``) and the prefix of the
    eventsourcing env keys (``TRANSIT_AGGREGATE_CACHE_MAXSIZE``...), so renaming the class never
    moves the data.
    """

    name = "transit"
