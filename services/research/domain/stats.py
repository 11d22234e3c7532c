"""Inequality and concentration measures, and the calendar the tables are cut by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from kgo_contracts.base import BANGKOK

#: The 1-baht bus campaign, inclusive, Bangkok days.
CAMPAIGN_START = date(2022, 6, 9)
CAMPAIGN_END = date(2022, 8, 31)


def gini(values: Sequence[int | float]) -> float:
    """The Gini coefficient of non-negative holdings: 0 all equal, towards 1 all with one.
    0 for an empty population or one holding nothing."""
    ordered = sorted(values)
    n, total = len(ordered), sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return (2 * weighted) / (n * total) - (n + 1) / n


def lorenz(values: Sequence[int]) -> list[tuple[float, float]]:
    """Points of the Lorenz curve, from (0, 0) to (1, 1): share of holders (poorest first)
    against their cumulative share of the total."""
    ordered = sorted(values)
    n, total = len(ordered), sum(ordered)
    if n == 0 or total == 0:
        return []
    points, running = [(0.0, 0.0)], 0
    for i, value in enumerate(ordered, start=1):
        running += value
        points.append((i / n, running / total))
    return points


def top_share(values: Sequence[int], top: int = 10) -> float | None:
    """The share of the total held by the ``top`` largest holders (None when there is none)."""
    total = sum(values)
    if total == 0:
        return None
    return sum(sorted(values, reverse=True)[:top]) / total


def bangkok(at: datetime) -> datetime:
    return at.astimezone(BANGKOK)


def day_of(at: datetime) -> date:
    return bangkok(at).date()


def week_of(at: datetime | date) -> date:
    """The Monday (Bangkok) of the week ``at`` falls in."""
    day = day_of(at) if isinstance(at, datetime) else at
    return day - timedelta(days=day.weekday())


def campaign_period(day: date) -> str:
    """``before``, ``during`` or ``after`` the 1-baht bus campaign."""
    if day < CAMPAIGN_START:
        return "before"
    return "during" if day <= CAMPAIGN_END else "after"


def week_end(monday: date) -> datetime:
    """The first instant after the week starting ``monday`` (Bangkok)."""
    following = monday + timedelta(days=7)
    return datetime(following.year, following.month, following.day, tzinfo=BANGKOK)
