"""Campaigns: what a mission counts toward, and the most one resident may receive from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Campaign:
    code: str
    #: The most coins one resident receives from this campaign's missions; None: no cap.
    cap: int | None = None

    def payable(self, requested: int, received: int) -> int:
        """How much of ``requested`` may still be paid to a resident who has ``received``."""
        if self.cap is None:
            return requested
        return max(0, min(requested, self.cap - received))
