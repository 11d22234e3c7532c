"""The mission catalogue the municipality manages: one aggregate holding every published
mission, each a versioned :class:`MissionSpec`.

Publishing, changing and retiring are events. A change bumps the mission's revision and
applies to completions recorded from then on; completions already recorded keep the reward
and revision they were recorded with (they are facts on the resident's progress).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidMission, MissionNotFound, MissionRetired
from .periods import Period
from .rules import FirstTimeRule, Rule, SignupRule, parse_rule, rule_data

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class MissionSpec(BaseModel):
    """What a mission is, as the municipality published it (validated at publish time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_SLUG.pattern, description="A short slug, e.g. 'five-rides'.")
    title_th: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    description_th: str = Field(default="", max_length=2000)
    description_en: str = Field(default="", max_length=2000)
    reward: int = Field(strict=True, gt=0, le=100_000)
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    limit: int = Field(default=1, strict=True, ge=1, le=100)
    period: Period = Period.ONCE
    campaign: str = Field(pattern=_SLUG.pattern)
    programme: str = Field(pattern=_SLUG.pattern, description="The budget paying the reward.")
    rule: Rule

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if isinstance(self.rule, FirstTimeRule | SignupRule) and (
            self.period is not Period.ONCE or self.limit != 1
        ):
            raise ValueError(f"a {self.rule.kind} rule is once per resident (period once, limit 1)")
        return self

    def open_at(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def data(self) -> dict[str, Any]:
        """The stored form (plain JSON values) of this spec."""
        return self.model_dump(mode="json")

    @classmethod
    def of(cls, data: dict[str, Any]) -> MissionSpec:
        return cls.model_validate(data)


def validated_spec(data: dict[str, Any], *, builtin: bool = False) -> MissionSpec:
    """A spec from a request, or InvalidMission with the reason."""
    try:
        spec = MissionSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "mission"
        raise InvalidMission(f"{where}: {first['msg']}") from None
    if isinstance(spec.rule, SignupRule) and not builtin:
        raise InvalidMission("rule: the signup rule is built in and cannot be published")
    return spec


@dataclass(frozen=True, slots=True)
class Mission:
    mission_id: UUID
    spec: MissionSpec
    revision: int
    retired_at: datetime | None = None
    builtin: bool = False

    @property
    def active(self) -> bool:
        return self.retired_at is None

    def open_at(self, at: datetime) -> bool:
        """Whether a fact at business time ``at`` counts: inside the window, and before the
        mission was retired (so replaying the topics later judges it the same way)."""
        return self.spec.open_at(at) and (self.retired_at is None or at < self.retired_at)


class Catalogue(Aggregate):
    TOPIC = "kgo.missions.Catalogue"

    class Created(Aggregate.Created):
        TOPIC = "kgo.missions.Catalogue.Created"

    class Opened(Aggregate.Created):
        TOPIC = "kgo.missions.Catalogue.Opened"

    class MissionPublished(Aggregate.Event):
        TOPIC = "kgo.missions.Catalogue.MissionPublished"
        mission_id: UUID
        spec: dict[str, Any]
        by: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.missions[self.mission_id] = Mission(
                self.mission_id, MissionSpec.of(self.spec), 1
            )

    class MissionChanged(Aggregate.Event):
        TOPIC = "kgo.missions.Catalogue.MissionChanged"
        mission_id: UUID
        revision: int
        spec: dict[str, Any]
        by: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            old = aggregate.missions[self.mission_id]
            aggregate.missions[self.mission_id] = replace(
                old, spec=MissionSpec.of(self.spec), revision=self.revision
            )

    class MissionRetired(Aggregate.Event):
        TOPIC = "kgo.missions.Catalogue.MissionRetired"
        mission_id: UUID
        revision: int
        reason: str
        by: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            old = aggregate.missions[self.mission_id]
            aggregate.missions[self.mission_id] = replace(old, retired_at=self.occurred_at)

    def __init__(self) -> None:
        self.missions: dict[UUID, Mission] = {}

    @classmethod
    def open(cls, catalogue_id: UUID) -> Catalogue:
        return cls._create(cls.Opened, id=catalogue_id)

    def mission(self, mission_id: UUID) -> Mission:
        try:
            return self.missions[mission_id]
        except KeyError:
            raise MissionNotFound(f"no mission {mission_id}") from None

    def publish(self, mission_id: UUID, spec: MissionSpec, *, by: str, at: datetime) -> Mission:
        if mission_id in self.missions:
            return self.missions[mission_id]  # the same publication again
        if any(m.spec.code == spec.code and m.active for m in self.missions.values()):
            raise InvalidMission(f"code: an active mission is already called {spec.code!r}")
        self.trigger_event(
            self.MissionPublished, mission_id=mission_id, spec=spec.data(), by=by, occurred_at=at
        )
        return self.missions[mission_id]

    def change(self, mission_id: UUID, spec: MissionSpec, *, by: str, at: datetime) -> Mission:
        mission = self.mission(mission_id)
        if not mission.active:
            raise MissionRetired(f"mission {mission_id} was retired; publish a new one")
        if type(spec.rule) is not type(mission.spec.rule):
            raise InvalidMission("rule: a change keeps the rule's kind; publish a new mission")
        if spec == mission.spec:
            return mission
        self.trigger_event(
            self.MissionChanged,
            mission_id=mission_id,
            revision=mission.revision + 1,
            spec=spec.data(),
            by=by,
            occurred_at=at,
        )
        return self.missions[mission_id]

    def retire(self, mission_id: UUID, reason: str, *, by: str, at: datetime) -> Mission:
        mission = self.mission(mission_id)
        if not mission.active:
            return mission
        self.trigger_event(
            self.MissionRetired,
            mission_id=mission_id,
            revision=mission.revision,
            reason=reason,
            by=by,
            occurred_at=at,
        )
        return self.missions[mission_id]


__all__ = [
    "Catalogue",
    "Mission",
    "MissionSpec",
    "Rule",
    "parse_rule",
    "rule_data",
    "validated_spec",
]
