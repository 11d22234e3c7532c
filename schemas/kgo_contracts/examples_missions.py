"""Examples of the events on ``kgo.missions.events``, in the story of ``examples.py`` (same
morning, same ids)."""

from __future__ import annotations

from .base import ContractEvent
from .examples import COMPLETION, RESIDENT, _at, _id
from .missions import MissionCompleted


def examples() -> list[ContractEvent]:
    return [
        MissionCompleted(
            completion_id=COMPLETION,
            wallet_id=RESIDENT,
            mission_id=_id("mission-signup"),
            programme="welcome",
            period="2022-06",
            reward=100,
            occurred_at=_at(7, 30),
        ),
    ]
