"""Request bodies of the missions API (validated at the edge; the domain validates again)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ...domain.catalogue import MissionSpec
from ...domain.periods import Period
from ...domain.rules import Rule

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Publishing: the mission as the domain validates it.
MissionRequest = MissionSpec


class MissionChangeRequest(_Body):
    """Only the fields to change; the rule keeps its kind."""

    title_th: Title | None = None
    title_en: Title | None = None
    description_th: str | None = Field(default=None, max_length=2000)
    description_en: str | None = Field(default=None, max_length=2000)
    reward: int | None = Field(default=None, strict=True, gt=0, le=100_000)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    limit: int | None = Field(default=None, strict=True, ge=1, le=100)
    period: Period | None = None
    rule: Rule | None = None


class RetireRequest(_Body):
    reason: Reason


class AwardRequest(_Body):
    wallet_id: UUID = Field(description="The resident's wallet id.")
    reason: Reason


class ActivityRequest(_Body):
    code: Slug
    title_th: Title
    title_en: Title
    description_th: str = Field(default="", max_length=2000)
    description_en: str = Field(default="", max_length=2000)
    reward: int = Field(strict=True, gt=0, le=100_000)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    rotate_seconds: int = Field(
        default=0, strict=True, ge=0, le=86_400, description="0: a fixed code; else rotate."
    )


class CheckInRequest(_Body):
    code: str = Field(min_length=1, max_length=64, description="The code shown at the activity.")


class AttendanceRequest(_Body):
    """The attendee by wallet id, or by the number of a printed card (resolved through the
    wallet; the number goes no further)."""

    wallet_id: UUID | None = Field(default=None, description="The attendee's wallet id.")
    card_number: str | None = Field(default=None, pattern=r"^[0-9]{8,19}$")

    @model_validator(mode="after")
    def _one_of(self) -> AttendanceRequest:
        if (self.wallet_id is None) == (self.card_number is None):
            raise ValueError("give exactly one of wallet_id and card_number")
        return self
