"""Business time as a port: every service asks a :class:`Clock`, never ``datetime.now``.

Production uses :class:`SystemClock`. Tests use :class:`ManualClock` to walk through code
expiries, campaign windows and double-tap guards. (A shared simulated clock for the demo
profile plugs in here too.) Times are aware and in Asia/Bangkok: Thailand keeps +07:00 all
year, so a fixed offset is exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from kgo_contracts.base import BANGKOK

__all__ = ["BANGKOK", "Clock", "ManualClock", "SystemClock", "bangkok_day"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current business time, aware, in Asia/Bangkok."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(BANGKOK)


class ManualClock:
    """A clock that moves only when told (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(BANGKOK)).astimezone(BANGKOK)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("business time must be aware")
        self._now = at.astimezone(BANGKOK)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


def bangkok_day(at: datetime) -> str:
    """The Bangkok calendar day of ``at`` as ``YYYY-MM-DD`` (statements, daily caps)."""
    return at.astimezone(BANGKOK).date().isoformat()
