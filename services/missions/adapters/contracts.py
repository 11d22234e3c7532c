"""What the missions service publishes: its stored domain events mapped to the public contracts
on ``kgo_contracts.topics.MISSIONS``. The relay calls :func:`to_contract` for every stored event.

One table, :data:`PUBLISHED`, names the contract of each domain event (or None: internal).
It is exhaustive on purpose: an event class missing from it stops the relay with an error
instead of being silently left unpublished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from kgo_contracts.base import ContractEvent
from kgo_contracts.missions import (
    ActivityCheckedIn,
    ActivityScheduled,
    MissionChanged,
    MissionCompleted,
    MissionPublished,
    MissionRetired,
    MissionRewardCapped,
    MissionRule,
)

from ..domain.activities import Activity, CheckIn
from ..domain.catalogue import Catalogue, MissionSpec
from ..domain.progress import ResidentProgress
from ..domain.receipt import CommandReceipt


def _definition(event: Any) -> dict[str, Any]:
    spec = MissionSpec.of(event.spec)
    return {
        "mission_id": event.mission_id,
        "code": spec.code,
        "title_th": spec.title_th,
        "title_en": spec.title_en,
        "description_th": spec.description_th,
        "description_en": spec.description_en,
        "reward": spec.reward,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "limit": spec.limit,
        "period": str(spec.period),
        "campaign": spec.campaign,
        "programme": spec.programme,
        "rule": MissionRule.model_validate(spec.rule.model_dump()),
        "occurred_at": event.occurred_at,
    }


def _published(event: Any) -> ContractEvent:
    return MissionPublished(**_definition(event), revision=1)


def _changed(event: Any) -> ContractEvent:
    return MissionChanged(**_definition(event), revision=event.revision)


def _retired(event: Any) -> ContractEvent:
    return MissionRetired(
        mission_id=event.mission_id,
        revision=event.revision,
        reason=event.reason,
        occurred_at=event.occurred_at,
    )


def _completed(event: Any) -> ContractEvent:
    cut = event.reward < event.requested_reward
    return MissionCompleted(
        completion_id=event.completion_id,
        wallet_id=event.wallet_id,
        mission_id=event.mission_id,
        programme=event.programme,
        period=event.period,
        reward=event.reward,
        occurred_at=event.occurred_at,
        campaign=event.campaign,
        mission_revision=event.mission_revision,
        requested_reward=event.requested_reward if cut else None,
        cut_reason=event.cut_reason if cut else None,
    )


def _capped(event: Any) -> ContractEvent:
    return MissionRewardCapped(
        completion_id=event.completion_id,
        wallet_id=event.wallet_id,
        mission_id=event.mission_id,
        mission_revision=event.mission_revision,
        campaign=event.campaign,
        programme=event.programme,
        period=event.period,
        requested_reward=event.requested_reward,
        cut_reason=event.cut_reason or "campaign_cap",
        occurred_at=event.occurred_at,
    )


def _scheduled(event: Any) -> ContractEvent:
    return ActivityScheduled(
        activity_id=event.originator_id,
        mission_id=event.mission_id,
        code=event.code,
        title_th=event.title_th,
        title_en=event.title_en,
        reward=event.reward,
        programme=event.programme,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        rotating_code=event.rotate_seconds > 0,
        occurred_at=event.occurred_at,
    )


def _checked_in(event: Any) -> ContractEvent:
    return ActivityCheckedIn(
        check_in_id=event.originator_id,
        activity_id=event.activity_id,
        wallet_id=event.wallet_id,
        method=event.method,
        occurred_at=event.occurred_at,
    )


#: Domain event class -> its contract (None: internal to missions).
PUBLISHED: dict[type[Any], Callable[[Any], ContractEvent] | None] = {
    Catalogue.Opened: None,
    Catalogue.MissionPublished: _published,
    Catalogue.MissionChanged: _changed,
    Catalogue.MissionRetired: _retired,
    ResidentProgress.Started: None,
    ResidentProgress.FactObserved: None,
    ResidentProgress.MissionCompleted: _completed,
    ResidentProgress.MissionRewardCapped: _capped,
    Activity.Scheduled: _scheduled,
    CheckIn.CheckedIn: _checked_in,
    CommandReceipt.Recorded: None,
}


def to_contract(event: DomainEventProtocol[Any]) -> ContractEvent | None:
    """The public contract of ``event``, or None for an event internal to missions."""
    try:
        mapping = PUBLISHED[type(event)]
    except KeyError:
        raise TypeError(f"missions: no public mapping for {type(event).__qualname__}") from None
    return None if mapping is None else mapping(event)
