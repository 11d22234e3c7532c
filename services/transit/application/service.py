"""The transit event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from eventsourcing.application import Application


class TransitApplication(Application[UUID]):
    """Transit' event store. ``name`` is pinned: it names the table (``transit_events``) and the
    env keys (``TRANSIT_...``), so renaming the class never moves the data."""

    name: ClassVar[str] = "transit"  # type: ignore[misc]
