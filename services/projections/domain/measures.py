"""Fairness measures and the small-count rule, pure functions over plain numbers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: Public answers suppress any figure that concerns fewer residents than this.
DEFAULT_K = 10


def gini(values: Iterable[int]) -> float | None:
    """The Gini coefficient of non-negative amounts (0: all equal, towards 1: one holds all);
    None for no values or a zero total."""
    xs = sorted(v for v in values if v >= 0)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return None
    # G = (2 * sum(i * x_i) / (n * sum x)) - (n + 1) / n, with i from 1 over sorted x.
    weighted = sum(i * x for i, x in enumerate(xs, start=1))
    return (2 * weighted) / (n * total) - (n + 1) / n


def top_share(values: Sequence[int], top: int = 10) -> float | None:
    """The share of the total held by the ``top`` largest values (None for a zero total)."""
    total = sum(values)
    if total <= 0:
        return None
    return sum(sorted(values, reverse=True)[:top]) / total


def share(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


@dataclass(frozen=True, slots=True)
class Suppression:
    """The rule for public answers: a figure about fewer than ``k`` residents is withheld
    (``None``), and so is every figure computed from the same group."""

    k: int = DEFAULT_K

    def count(self, residents: int) -> int | None:
        return residents if residents >= self.k else None

    def allows(self, residents: int) -> bool:
        return residents >= self.k

    def value(self, residents: int, value: T) -> T | None:
        return value if residents >= self.k else None
