"""A resident's progress: the facts missions knows about one wallet and the completions they
earned. One aggregate per wallet, with a deterministic id (``ids.progress_id``).

Exactly once, whatever arrives twice, late or out of order:

* a fact is known by its id (the source event's stable ``ce_id``): seen again, it changes
  nothing;
* after each new fact, every mission it can count for is judged again over the facts in that
  mission's window and period, at each fact's own business time;
* a completion's id is derived from (wallet, mission, period, ordinal); one already recorded
  is never recorded again and never revoked.

The campaign cap is applied when a completion is recorded: past the cap the reward is cut
(``cut_reason``) and a completion cut to nothing is still recorded, as MissionRewardCapped.
The total paid per campaign is therefore min(cap, sum of requested rewards) in every order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .campaigns import Campaign
from .catalogue import Mission
from .facts import Fact, FactKind
from .ids import completion_id
from .rules import Standing, relevant, standing

CAP_REASON = "campaign_cap"


@dataclass(frozen=True, slots=True)
class Completion:
    completion_id: UUID
    mission_id: UUID
    mission_revision: int
    campaign: str
    programme: str
    period: str
    ordinal: int
    requested_reward: int
    reward: int
    cut_reason: str | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MissionStanding:
    """A resident's standing on one mission in one period (the residents' API)."""

    mission: Mission
    period: str
    standing: Standing
    completed: int


def _fact(data: Mapping[str, Any]) -> Fact:
    return Fact(
        fact_id=data["fact_id"],
        kind=FactKind(data["kind"]),
        at=data["at"],
        shop_id=data.get("shop_id"),
        activity_id=data.get("activity_id"),
        mission_id=data.get("mission_id"),
        reason=data.get("reason"),
    )


class ResidentProgress(Aggregate):
    TOPIC = "kgo.missions.ResidentProgress"

    class Created(Aggregate.Created):
        TOPIC = "kgo.missions.ResidentProgress.Created"

    class Started(Aggregate.Created):
        TOPIC = "kgo.missions.ResidentProgress.Started"
        wallet_id: UUID

    class FactObserved(Aggregate.Event):
        TOPIC = "kgo.missions.ResidentProgress.FactObserved"
        fact_id: str
        kind: str
        at: datetime
        shop_id: UUID | None
        activity_id: UUID | None
        mission_id: UUID | None
        reason: str | None

        def apply(self, aggregate: Any) -> None:
            fact = _fact(self.__dict__)
            aggregate.facts[fact.fact_id] = fact

    class Completed(Aggregate.Event):
        """Base of the two completion events; never triggered itself."""

        TOPIC = "kgo.missions.ResidentProgress.Completed"
        wallet_id: UUID
        completion_id: UUID
        mission_id: UUID
        mission_revision: int
        campaign: str
        programme: str
        period: str
        ordinal: int
        requested_reward: int
        reward: int
        cut_reason: str | None
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            fields = {k: getattr(self, k) for k in Completion.__dataclass_fields__}
            completion = Completion(**fields)
            aggregate.completions[completion.completion_id] = completion
            received = aggregate.received.get(completion.campaign, 0)
            aggregate.received[completion.campaign] = received + completion.reward

    class MissionCompleted(Completed):
        TOPIC = "kgo.missions.ResidentProgress.MissionCompleted"

    class MissionRewardCapped(Completed):
        TOPIC = "kgo.missions.ResidentProgress.MissionRewardCapped"

    def __init__(self, wallet_id: UUID) -> None:
        self.wallet_id = wallet_id
        self.facts: dict[str, Fact] = {}
        self.completions: dict[UUID, Completion] = {}
        self.received: dict[str, int] = {}

    @classmethod
    def start(cls, progress_id: UUID, wallet_id: UUID) -> ResidentProgress:
        return cls._create(cls.Started, id=progress_id, wallet_id=wallet_id)

    @property
    def registered(self) -> bool:
        """Whether the wallet told missions this resident's account was opened."""
        return any(f.kind is FactKind.ACCOUNT_OPENED for f in self.facts.values())

    def knows(self, fact_id: str) -> bool:
        return fact_id in self.facts

    def observe(
        self, fact: Fact, missions: Iterable[Mission], campaigns: Mapping[str, Campaign]
    ) -> list[Completion]:
        """Record ``fact`` and whatever it completes; nothing if the fact is known already."""
        if fact.fact_id in self.facts:
            return []
        self.trigger_event(
            self.FactObserved,
            fact_id=fact.fact_id,
            kind=str(fact.kind),
            at=fact.at,
            shop_id=fact.shop_id,
            activity_id=fact.activity_id,
            mission_id=fact.mission_id,
            reason=fact.reason,
        )
        done: list[Completion] = []
        for mission in missions:
            if mission.open_at(fact.at) and relevant(mission.spec.rule, fact, mission.mission_id):
                done += self._judge(mission, mission.spec.period.key(fact.at), campaigns)
        return done

    def standing(self, mission: Mission, period: str) -> MissionStanding:
        facts = [f for f in self.facts.values() if self._counts(mission, f, period)]
        completed = sum(
            1
            for c in self.completions.values()
            if c.mission_id == mission.mission_id and c.period == period
        )
        return MissionStanding(
            mission, period, standing(mission.spec.rule, facts, mission.mission_id), completed
        )

    def received_from(self, campaign: str) -> int:
        return self.received.get(campaign, 0)

    # --- judging ---------------------------------------------------------------------------

    @staticmethod
    def _counts(mission: Mission, fact: Fact, period: str) -> bool:
        return mission.open_at(fact.at) and mission.spec.period.key(fact.at) == period

    def _judge(
        self, mission: Mission, period: str, campaigns: Mapping[str, Campaign]
    ) -> list[Completion]:
        spec = mission.spec
        found = self.standing(mission, period).standing
        done: list[Completion] = []
        for ordinal in range(1, min(spec.limit, found.units) + 1):
            cid = completion_id(self.wallet_id, mission.mission_id, period, ordinal)
            if cid in self.completions:
                continue
            campaign = campaigns.get(spec.campaign, Campaign(spec.campaign))
            reward = campaign.payable(spec.reward, self.received_from(spec.campaign))
            self.trigger_event(
                self.MissionCompleted if reward > 0 else self.MissionRewardCapped,
                wallet_id=self.wallet_id,
                completion_id=cid,
                mission_id=mission.mission_id,
                mission_revision=mission.revision,
                campaign=spec.campaign,
                programme=spec.programme,
                period=period,
                ordinal=ordinal,
                requested_reward=spec.reward,
                reward=reward,
                cut_reason=None if reward == spec.reward else CAP_REASON,
                occurred_at=found.reached_at[ordinal - 1],
            )
            done.append(self.completions[cid])
        return done
