"""Events on ``kgo.missions.events``: the mission catalogue, municipal activities, and what
residents completed. Completions and check-ins are keyed by ``wallet_id``; catalogue events by
``mission_id``, activities by ``activity_id``. Residents appear by pseudonymous ids only;
check-in codes never leave the missions service."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from . import topics
from .base import BusinessTime, Coins, ContractEvent, Text

Period = Literal["once", "daily", "weekly"]


class MissionsEvent(ContractEvent):
    topic: ClassVar[str] = topics.MISSIONS


class MissionCompleted(MissionsEvent):
    """A resident completed a mission; the wallet turns it into one grant or a recorded refusal."""

    wire_name: ClassVar[str] = "kgo.missions.MissionCompleted"
    key_field: ClassVar[str] = "wallet_id"

    completion_id: UUID = Field(description="Unique per resident, mission and period.")
    wallet_id: UUID
    mission_id: UUID
    programme: str = Field(description="The programme budget that pays the reward.")
    period: Text = Field(description="The period the limit applies to, e.g. '2022-06'.")
    reward: Coins
    occurred_at: BusinessTime
    campaign: str | None = Field(
        default=None, description="The campaign the mission counts toward, e.g. 'welcome'."
    )
    mission_revision: int | None = Field(
        default=None, strict=True, ge=1, description="The mission's revision when completed."
    )
    requested_reward: int | None = Field(
        default=None,
        strict=True,
        gt=0,
        description="The mission's reward before the campaign cap; set when `reward` was cut.",
    )
    cut_reason: Text | None = Field(
        default=None, description="Why `reward` is less than `requested_reward` ('campaign_cap')."
    )


class MissionRewardCapped(MissionsEvent):
    """A resident completed a mission but the campaign's cap left nothing to pay: recorded,
    never silently dropped. The wallet grants nothing for it."""

    wire_name: ClassVar[str] = "kgo.missions.MissionRewardCapped"
    key_field: ClassVar[str] = "wallet_id"

    completion_id: UUID = Field(description="Unique per resident, mission and period.")
    wallet_id: UUID
    mission_id: UUID
    mission_revision: int = Field(strict=True, ge=1)
    campaign: str
    programme: str
    period: Text
    requested_reward: Coins
    cut_reason: Text = Field(description="'campaign_cap': the resident reached the cap.")
    occurred_at: BusinessTime


class MissionRule(BaseModel):
    """A mission's rule, as data: ``count`` (``count`` events of kind ``event`` in the period),
    ``distinct_shops`` (spending at ``shops`` different shops), ``first_time`` (the first
    ``event`` in the window), ``check_in`` (at ``activity_id``, or any activity), ``manual``
    (awarded by an operator) or ``signup`` (built in: the wallet was opened)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["count", "distinct_shops", "first_time", "check_in", "manual", "signup"]
    event: Literal["fare_paid", "discount_redeemed", "checked_in"] | None = None
    count: int | None = Field(default=None, strict=True, ge=1)
    shops: int | None = Field(default=None, strict=True, ge=1)
    activity_id: UUID | None = None


class MissionDefinition(MissionsEvent):
    """What a published or changed mission is."""

    key_field: ClassVar[str] = "mission_id"

    mission_id: UUID
    revision: int = Field(strict=True, ge=1, description="1 when published, +1 per change.")
    code: Text
    title_th: Text
    title_en: Text
    description_th: str = Field(default="", max_length=2000)
    description_en: str = Field(default="", max_length=2000)
    reward: Coins
    starts_at: BusinessTime
    ends_at: BusinessTime | None = None
    limit: int = Field(strict=True, ge=1, description="Completions per resident and period.")
    period: Period
    campaign: str
    programme: str = Field(description="The programme budget that pays the reward.")
    rule: MissionRule
    occurred_at: BusinessTime


class MissionPublished(MissionDefinition):
    """The municipality published a mission."""

    wire_name: ClassVar[str] = "kgo.missions.MissionPublished"


class MissionChanged(MissionDefinition):
    """A mission was changed (its new revision in full); completions already recorded keep
    what they were recorded with."""

    wire_name: ClassVar[str] = "kgo.missions.MissionChanged"


class MissionRetired(MissionsEvent):
    """A mission was retired: no completion is recorded for it any more."""

    wire_name: ClassVar[str] = "kgo.missions.MissionRetired"
    key_field: ClassVar[str] = "mission_id"

    mission_id: UUID
    revision: int = Field(strict=True, ge=1)
    reason: Text
    occurred_at: BusinessTime


class ActivityScheduled(MissionsEvent):
    """A municipal activity (festival, clean-up day, workshop) with a reward for attending."""

    wire_name: ClassVar[str] = "kgo.missions.ActivityScheduled"
    key_field: ClassVar[str] = "activity_id"

    activity_id: UUID
    mission_id: UUID = Field(description="The mission its check-ins complete.")
    code: Text
    title_th: Text
    title_en: Text
    reward: Coins
    programme: str
    starts_at: BusinessTime
    ends_at: BusinessTime
    rotating_code: bool = Field(description="Whether the check-in code rotates.")
    occurred_at: BusinessTime


class ActivityCheckedIn(MissionsEvent):
    """A resident checked in at an activity (with its code, or recorded by an operator)."""

    wire_name: ClassVar[str] = "kgo.missions.ActivityCheckedIn"
    key_field: ClassVar[str] = "wallet_id"

    check_in_id: UUID
    activity_id: UUID
    wallet_id: UUID
    method: Literal["code", "operator"]
    occurred_at: BusinessTime


MISSIONS_EVENTS: tuple[type[ContractEvent], ...] = (
    MissionCompleted,
    MissionRewardCapped,
    MissionPublished,
    MissionChanged,
    MissionRetired,
    ActivityScheduled,
    ActivityCheckedIn,
)
