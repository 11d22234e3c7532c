"""Events on ``kgo.missions.events`` (the missions service fills in its catalogue later)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from . import topics
from .base import BusinessTime, Coins, ContractEvent, Text


class MissionCompleted(ContractEvent):
    """A resident completed a mission; the wallet turns it into one grant or a recorded refusal."""

    wire_name: ClassVar[str] = "kgo.missions.MissionCompleted"
    topic: ClassVar[str] = topics.MISSIONS
    key_field: ClassVar[str] = "wallet_id"

    completion_id: UUID = Field(description="Unique per resident, mission and period.")
    wallet_id: UUID
    mission_id: UUID
    programme: str = Field(description="The programme budget that pays the reward.")
    period: Text = Field(description="The period the limit applies to, e.g. '2022-06'.")
    reward: Coins
    occurred_at: BusinessTime


MISSIONS_EVENTS: tuple[type[ContractEvent], ...] = (MissionCompleted,)
