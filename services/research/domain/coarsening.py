"""Coarsening of group tables: no published group describes fewer than ``k`` residents.

Within each *frame* (e.g. one day), the groups with fewer than ``k`` distinct residents are
merged into one ``other`` group (its fine keys: ``"other"`` for text, null otherwise;
``coarsened`` true). If that ``other`` group still has fewer than ``k`` residents, its figures
are suppressed: the row stays, with null figures and ``suppressed`` true, so a reader sees
that something was there. A table without fine keys (e.g. one row per week) suppresses small
rows directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_K = 10
OTHER = "other"


@dataclass
class Group:
    keys: dict[str, Any]
    metrics: dict[str, int] = field(default_factory=dict)
    residents: set[str] = field(default_factory=set)

    def add(self, resident: str | None, **metrics: int) -> None:
        if resident is not None:
            self.residents.add(resident)
        for name, value in metrics.items():
            self.metrics[name] = self.metrics.get(name, 0) + value


class Groups:
    """Groups by key, created on first use."""

    def __init__(self, metric_names: Sequence[str]) -> None:
        self.metric_names = tuple(metric_names)
        self._groups: dict[tuple[Any, ...], Group] = {}

    def at(self, **keys: Any) -> Group:
        index = tuple(keys.items())
        if index not in self._groups:
            self._groups[index] = Group(dict(keys), dict.fromkeys(self.metric_names, 0))
        return self._groups[index]

    def __iter__(self) -> Any:
        return iter(self._groups.values())


def _row(group: Group, *, coarsened: bool, suppressed: bool) -> dict[str, Any]:
    figures: dict[str, Any] = (
        dict.fromkeys(group.metrics, None) if suppressed else dict(group.metrics)
    )
    return {
        **group.keys,
        **figures,
        "residents": None if suppressed else len(group.residents),
        "coarsened": coarsened,
        "suppressed": suppressed,
    }


def coarsen(
    groups: Iterable[Group], *, frame: Sequence[str], fine: Sequence[str], k: int = DEFAULT_K
) -> list[dict[str, Any]]:
    """Rows for publication: groups of at least ``k`` residents as they are, the rest merged
    per frame into ``other`` and suppressed if still too small. Sorted by frame."""
    kept: list[dict[str, Any]] = []
    small: dict[tuple[Any, ...], Group] = {}
    for group in groups:
        if len(group.residents) >= k:
            kept.append(_row(group, coarsened=False, suppressed=False))
            continue
        index = tuple(group.keys.get(name) for name in frame)
        merged = small.get(index)
        if merged is None:
            keys = {name: group.keys.get(name) for name in group.keys}
            if fine:
                for name in fine:
                    keys[name] = OTHER if isinstance(group.keys.get(name), str) else None
            merged = small[index] = Group(keys, dict.fromkeys(group.metrics, 0), set())
        merged.residents |= group.residents
        for name, value in group.metrics.items():
            merged.metrics[name] = merged.metrics.get(name, 0) + value
    for merged in small.values():
        too_small = len(merged.residents) < k
        kept.append(_row(merged, coarsened=bool(fine), suppressed=too_small))
    return sorted(kept, key=lambda row: tuple(_sortable(row.get(name)) for name in (*frame, *fine)))


def _sortable(value: Any) -> tuple[int, str]:
    return (value is None or value == OTHER, str(value))
