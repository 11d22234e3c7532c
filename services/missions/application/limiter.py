"""Guessing check-in codes is rate-limited: a resident who sends too many wrong codes for one
activity is refused for a while, before the code is even looked at.

In memory, per process: a guesser spread over several processes gets a few more tries, which
an 8-digit code (10^8 values) can afford.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from uuid import UUID

from ..domain.errors import TooManyAttempts


class GuessLimiter:
    def __init__(self, attempts: int = 5, window: timedelta = timedelta(minutes=10)) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[tuple[UUID, UUID], deque[datetime]] = {}

    def check(self, wallet_id: UUID, activity_id: UUID, at: datetime) -> None:
        failures = self._failures.get((wallet_id, activity_id))
        if not failures:
            return
        while failures and failures[0] <= at - self.window:
            failures.popleft()
        if len(failures) >= self.attempts:
            retry = failures[0] + self.window - at
            raise TooManyAttempts(
                f"too many wrong codes; try again in {int(retry.total_seconds()) + 1} s"
            )

    def failed(self, wallet_id: UUID, activity_id: UUID, at: datetime) -> None:
        if len(self._failures) > 100_000:
            self._failures.clear()
        self._failures.setdefault((wallet_id, activity_id), deque()).append(at)
