"""The missions event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from eventsourcing.application import Application


class MissionsApplication(Application[UUID]):
    """Missions' event store. ``name`` is pinned: it names the table (``missions_events``) and the
    env keys (``MISSIONS_...``), so renaming the class never moves the data."""

    name: ClassVar[str] = "missions"  # type: ignore[misc]
