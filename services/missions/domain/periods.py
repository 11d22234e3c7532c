"""Periods of a mission's per-resident limit, in Asia/Bangkok calendar time."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from kgo_contracts.base import BANGKOK


class Period(StrEnum):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"

    def key(self, at: datetime) -> str:
        """The period ``at`` falls in: ``once``, ``2022-06-09`` or ``2022-W23`` (ISO week)."""
        local = at.astimezone(BANGKOK)
        if self is Period.DAILY:
            return local.date().isoformat()
        if self is Period.WEEKLY:
            year, week, _ = local.isocalendar()
            return f"{year}-W{week:02d}"
        return "once"
