"""Guessing check-in codes is rate-limited: a resident who sends too many wrong codes for one
activity is refused for a while, before the code is even looked at.

In memory, per process: a guesser spread over several processes gets a few more tries, which
an 8-digit code (10^8 values) can afford. Bounded: past ``capacity`` (resident, activity)
pairs, the pairs whose every failure has left the window go first, then, only if that is not
enough, the pairs that failed longest ago; so a wave of wrong codes from many residents never
resets the count of the one guessing now, and the memory stays within the bound.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from uuid import UUID

from ..domain.errors import TooManyAttempts


class GuessLimiter:
    def __init__(
        self, attempts: int = 5, window: timedelta = timedelta(minutes=10),
        capacity: int = 100_000,
    ) -> None:  # fmt: skip
        self.attempts = attempts
        self.window = window
        self.capacity = capacity
        #: Each pair's failures inside the window, oldest first; the dict in the order of
        #: each pair's latest failure (a new failure moves its pair to the end).
        self._failures: dict[tuple[UUID, UUID], deque[datetime]] = {}

    def __len__(self) -> int:
        return len(self._failures)

    def check(self, wallet_id: UUID, activity_id: UUID, at: datetime) -> None:
        key = (wallet_id, activity_id)
        failures = self._failures.get(key)
        if failures is None:
            return
        while failures and failures[0] <= at - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        elif len(failures) >= self.attempts:
            retry = failures[0] + self.window - at
            raise TooManyAttempts(
                f"too many wrong codes; try again in {int(retry.total_seconds()) + 1} s"
            )

    def failed(self, wallet_id: UUID, activity_id: UUID, at: datetime) -> None:
        key = (wallet_id, activity_id)
        failures = self._failures.pop(key, None) or deque()
        failures.append(at)
        self._failures[key] = failures  # now the most recent
        if len(self._failures) > self.capacity:
            self._make_room(at)

    def _make_room(self, at: datetime) -> None:
        """Down to 90% of the capacity (so this runs once per tenth of it, not per failure):
        the pairs with no failure left in the window, then the least recently failed."""
        horizon = at - self.window
        keep = self.capacity * 9 // 10
        expired = [key for key, failures in self._failures.items() if failures[-1] <= horizon]
        for key in expired:
            del self._failures[key]
        for key in list(self._failures)[: max(0, len(self._failures) - keep)]:
            del self._failures[key]
