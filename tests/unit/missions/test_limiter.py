"""The check-in code guess limiter: its count per (resident, activity), and its bound."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from services.missions.application.limiter import GuessLimiter
from services.missions.domain.errors import TooManyAttempts

pytestmark = pytest.mark.unit

T0 = datetime.fromisoformat("2022-06-09T08:00:00+07:00")


def test_the_sixth_wrong_code_in_the_window_is_refused_and_the_window_passes() -> None:
    limiter, wallet, activity = GuessLimiter(5, timedelta(minutes=10)), uuid4(), uuid4()
    for i in range(5):
        limiter.check(wallet, activity, T0 + timedelta(seconds=i))
        limiter.failed(wallet, activity, T0 + timedelta(seconds=i))
    with pytest.raises(TooManyAttempts, match="try again in 596 s"):
        limiter.check(wallet, activity, T0 + timedelta(seconds=5))
    limiter.check(uuid4(), activity, T0 + timedelta(seconds=5))  # another resident: free
    limiter.check(wallet, activity, T0 + timedelta(minutes=10, seconds=5))
    assert len(limiter) == 0  # a pair whose failures all left the window is forgotten


def test_a_wave_of_other_pairs_never_resets_the_count_of_the_one_guessing_now() -> None:
    limiter, guesser, activity = (
        GuessLimiter(5, timedelta(minutes=10), capacity=1_000),
        uuid4(),
        uuid4(),
    )
    for i in range(5):
        limiter.failed(guesser, activity, T0 + timedelta(seconds=i))
    # 5,000 other residents each send one wrong code, the guesser's pair among them again
    # and again: the bound holds, and the guesser stays refused.
    for i in range(5_000):
        limiter.failed(uuid4(), activity, T0 + timedelta(seconds=10))
        assert len(limiter) <= 1_000
        if i % 100 == 0:
            with pytest.raises(TooManyAttempts):
                limiter.check(guesser, activity, T0 + timedelta(seconds=10))
            limiter.failed(guesser, activity, T0 + timedelta(seconds=10))


def test_past_the_bound_the_expired_pairs_go_first() -> None:
    limiter, activity = GuessLimiter(2, timedelta(minutes=10), capacity=100), uuid4()
    for _ in range(98):  # an hour ago: out of the window now
        limiter.failed(uuid4(), activity, T0 - timedelta(hours=1))
    recent = uuid4()
    for _ in range(2):
        limiter.failed(recent, activity, T0)
    limiter.failed(uuid4(), activity, T0)
    assert len(limiter) == 100
    limiter.failed(uuid4(), activity, T0)  # over the bound: only the 98 expired pairs go
    assert len(limiter) == 3
    with pytest.raises(TooManyAttempts):
        limiter.check(recent, activity, T0 + timedelta(seconds=1))
