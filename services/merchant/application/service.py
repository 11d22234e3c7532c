"""The merchant event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from eventsourcing.application import Application


class MerchantApplication(Application[UUID]):
    """Merchant' event store. ``name`` is pinned: it names the table (``merchant_events``) and the
    env keys (``MERCHANT_...``), so renaming the class never moves the data."""

    name: ClassVar[str] = "merchant"  # type: ignore[misc]
