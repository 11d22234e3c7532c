"""Mission rules are data: one validated value per mission, judged over a resident's facts.

A rule says how many *units* a set of facts earns; each unit is one completion, up to the
mission's limit per period. Units depend only on the set of facts, never on their arrival
order, which is what makes progress reproducible from the topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .facts import Fact, FactKind

#: Fact kinds a count or first-time rule may count.
Countable = Literal["fare_paid", "discount_redeemed", "checked_in"]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CountRule(_Rule):
    """``count`` facts of one kind in the period, e.g. 5 bus rides (``fare_paid``)."""

    kind: Literal["count"] = "count"
    event: Countable
    count: int = Field(ge=1, le=1000)


class DistinctShopsRule(_Rule):
    """Spending at ``shops`` different shops in the period (``discount_redeemed``)."""

    kind: Literal["distinct_shops"] = "distinct_shops"
    shops: int = Field(ge=1, le=1000)


class FirstTimeRule(_Rule):
    """The first ride or redemption inside the mission's window; once per resident."""

    kind: Literal["first_time"] = "first_time"
    event: Countable


class CheckInRule(_Rule):
    """A check-in at a municipal activity (``activity_id``), or at any activity."""

    kind: Literal["check_in"] = "check_in"
    activity_id: UUID | None = None


class ManualRule(_Rule):
    """Awarded by an operator, with a reason."""

    kind: Literal["manual"] = "manual"


class SignupRule(_Rule):
    """Built in: the resident's wallet was opened. Not for published missions."""

    kind: Literal["signup"] = "signup"


Rule = Annotated[
    CountRule | DistinctShopsRule | FirstTimeRule | CheckInRule | ManualRule | SignupRule,
    Field(discriminator="kind"),
]
RULE_ADAPTER: TypeAdapter[Rule] = TypeAdapter(Rule)


def parse_rule(data: object) -> Rule:
    """A rule from its stored or requested form (raises pydantic's ValidationError)."""
    return RULE_ADAPTER.validate_python(data)


def rule_data(rule: Rule) -> dict[str, object]:
    return rule.model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a resident stands on a rule in one period: ``have`` of ``need`` towards the next
    unit, ``units`` earned, and the business time each unit was reached at."""

    have: int
    need: int
    units: int
    reached_at: tuple[datetime, ...]


def _matches(rule: Rule, fact: Fact, mission_id: UUID) -> bool:
    if isinstance(rule, CountRule | FirstTimeRule):
        return fact.kind == FactKind(rule.event)
    if isinstance(rule, DistinctShopsRule):
        return fact.kind is FactKind.DISCOUNT_REDEEMED and fact.shop_id is not None
    if isinstance(rule, CheckInRule):
        return fact.kind is FactKind.CHECKED_IN and rule.activity_id in (None, fact.activity_id)
    if isinstance(rule, ManualRule):
        return fact.kind is FactKind.MANUAL_AWARD and fact.mission_id == mission_id
    return fact.kind is FactKind.ACCOUNT_OPENED


def relevant(rule: Rule, fact: Fact, mission_id: UUID) -> bool:
    """Whether ``fact`` can count towards ``rule`` at all."""
    return _matches(rule, fact, mission_id)


def standing(rule: Rule, facts: Sequence[Fact], mission_id: UUID) -> Standing:
    """Judge ``facts`` (already limited to one period and the mission's window)."""
    ordered = sorted(
        (f for f in facts if _matches(rule, f, mission_id)), key=lambda f: (f.at, f.fact_id)
    )
    if isinstance(rule, DistinctShopsRule):
        firsts: dict[UUID, datetime] = {}
        for fact in ordered:
            assert fact.shop_id is not None
            firsts.setdefault(fact.shop_id, fact.at)
        times = sorted(firsts.values())
        need = rule.shops
    elif isinstance(rule, CountRule):
        times, need = [f.at for f in ordered], rule.count
    elif isinstance(rule, FirstTimeRule | SignupRule):
        times, need = [f.at for f in ordered[:1]], 1
    else:
        times, need = [f.at for f in ordered], 1
    units = len(times) // need
    reached = tuple(times[need * n - 1] for n in range(1, units + 1))
    return Standing(have=len(times) - units * need, need=need, units=units, reached_at=reached)
