"""The missions event-sourced application: its commands load aggregates, decide and save.

Every write with an idempotency key stores its :class:`CommandReceipt` in the same atomic
save as its effect; a retry finds the receipt and answers the first answer. Saves that
conflict (another process saved the same aggregate first) are decided again from the store.

:meth:`MissionsApplication.observe` is what the Kafka consumer calls. It is idempotent on its
own, without the consumer's inbox: the resident's progress has a deterministic id, knows
every fact it recorded by the source event's ``ce_id``, and completion ids are derived from
(wallet, mission, period). So a record applied here whose consumer transaction then failed
(a crash between the two commits; they are on different database connections) is applied
again to no effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from kgo_runtime.application import ServiceApplication
from kgo_runtime.eventstore import get_many

from ..domain.activities import Activity
from ..domain.catalogue import Catalogue, Mission
from ..domain.errors import ActivityNotFound, MissionNotFound, MissionsError, OutOfScope
from ..domain.facts import Fact, FactKind
from ..domain.ids import CATALOGUE_ID, progress_id, receipt_id
from ..domain.progress import Completion, MissionStanding, ResidentProgress
from ..domain.receipt import CommandReceipt
from ..domain.rules import CheckInRule
from . import commands as c
from . import handlers
from .limiter import GuessLimiter
from .policy import MissionsPolicy

A = TypeVar("A", bound=Aggregate)
MAX_ATTEMPTS = 20


class MissionsApplication(ServiceApplication):
    """The missions service's event store.

    ``name`` is pinned: it names the events table (``missions_events``) and the prefix of the
    eventsourcing env keys (``MISSIONS_AGGREGATE_CACHE_MAXSIZE``...), so renaming the class never
    moves the data.
    """

    name = "missions"

    def __init__(
        self, env: Mapping[str, str] | None = None, policy: MissionsPolicy | None = None
    ) -> None:
        super().__init__(env)
        self.policy = policy or MissionsPolicy()
        self.limiter = GuessLimiter(
            self.policy.guess_attempts, timedelta(seconds=self.policy.guess_window_seconds)
        )

    # --- loading (the handlers use these too) ------------------------------------------------

    def find(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        try:
            found: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def catalogue(self) -> Catalogue:
        return self.find(CATALOGUE_ID, Catalogue) or Catalogue.open(CATALOGUE_ID)

    def progress(self, wallet_id: UUID) -> ResidentProgress:
        pid = progress_id(wallet_id)
        return self.find(pid, ResidentProgress) or ResidentProgress.start(pid, wallet_id)

    def activity(self, activity_id: UUID) -> Activity:
        activity = self.find(activity_id, Activity)
        if activity is None:
            raise ActivityNotFound(f"no activity {activity_id}")
        return activity

    def progresses(self, wallet_ids: Sequence[UUID]) -> dict[UUID, ResidentProgress]:
        """The progress of each resident (new ones started), read in one round trip on
        PostgreSQL (:func:`kgo_runtime.eventstore.get_many`). What :meth:`progress` gives
        one at a time."""
        wallets = {progress_id(w): w for w in dict.fromkeys(wallet_ids)}
        found = get_many(self, wallets)
        progresses: dict[UUID, ResidentProgress] = {}
        for pid, wallet_id in wallets.items():
            progress = found.get(pid)
            if not isinstance(progress, ResidentProgress):
                progress = ResidentProgress.start(pid, wallet_id)
            progresses[wallet_id] = progress
        return progresses

    def all_missions(self, catalogue: Catalogue | None = None) -> list[Mission]:
        catalogue = catalogue or self.catalogue()
        return [self.policy.signup, *catalogue.missions.values()]

    # --- the consumer's entry ----------------------------------------------------------------

    def observe(self, wallet_id: UUID, fact: Fact) -> list[Completion]:
        """Record a fact about a resident and what it completes (idempotent, see above)."""
        return self.observe_many([(wallet_id, fact)])[0]

    def observe_many(self, facts: Sequence[tuple[UUID, Fact]]) -> list[list[Completion]]:
        """Record many facts (in their order) and what they complete, in ONE save: the
        consumer's batched mode. The catalogue is read once for the batch and each
        resident's progress once; idempotent as :meth:`observe` (a fact already known, or
        twice in the batch, changes nothing). A conflicting save decides the whole batch
        again from the store."""
        for _attempt in range(MAX_ATTEMPTS):
            missions = self.all_missions()
            progresses = self.progresses([wallet_id for wallet_id, _fact in facts])
            done: list[list[Completion]] = []
            for wallet_id, fact in facts:
                progress = progresses[wallet_id]
                if progress.knows(fact.fact_id):
                    done.append([])
                    continue
                done.append(progress.observe(fact, missions, self.policy.campaigns))
            changed = [p for p in progresses.values() if p.pending_events]
            try:
                if changed:
                    self.save(*changed)
            except IntegrityError:
                continue
            cache = self.repository.cache
            if cache is not None:  # the copies as saved: the next batch reads only what follows
                for progress in progresses.values():
                    cache.put(progress.id, progress)
            return done
        raise RuntimeError(f"a batch of {len(facts)} facts still conflicting after retries")

    # --- commands --------------------------------------------------------------------------

    def execute(self, cmd: c.Command) -> c.Outcome:
        """Decide ``cmd`` once per idempotency key; a refusal raises :class:`MissionsError`
        (also when it is the stored first answer)."""
        decide = handlers.HANDLERS[type(cmd)]
        rid = receipt_id(cmd.caller, cmd.idempotency_key)
        request_hash = cmd.request_hash()
        for _attempt in range(MAX_ATTEMPTS):
            receipt = self.find(rid, CommandReceipt)
            if receipt is not None:
                code, answer = receipt.replay_for(cmd.name, request_hash)
                if code is not None:
                    stored = MissionsError(str(answer.get("reason", code)), code=code)
                    stored.replayed = True
                    raise stored
                return c.Outcome(answer, replayed=True)
            unit = handlers.Unit()
            refused: MissionsError | None = None
            try:
                body = decide(self, cmd, unit)
            except OutOfScope:
                raise  # not the caller's to record under its key
            except MissionsError as error:
                refused, unit.changed, body = error, [], {"reason": error.reason}
            unit.add(
                CommandReceipt.record(
                    rid,
                    command=cmd.name,
                    request_hash=request_hash,
                    code=refused.code if refused else None,
                    answer=body,
                    at=cmd.at,
                )
            )
            try:
                self.save(*unit.changed)
            except IntegrityError:
                continue
            if refused is not None:
                raise refused
            return c.Outcome(body)
        raise RuntimeError(f"{cmd.name} still conflicting after retries")

    # --- queries ---------------------------------------------------------------------------

    def missions(self, *, include_retired: bool = False) -> list[Mission]:
        return [m for m in self.all_missions() if include_retired or m.active]

    def mission(self, mission_id: UUID) -> Mission:
        for mission in self.all_missions():
            if mission.mission_id == mission_id:
                return mission
        raise MissionNotFound(f"no mission {mission_id}")

    def standings(self, wallet_id: UUID, at: datetime) -> list[MissionStanding]:
        """A resident's standing on every active mission open at ``at``, in its period then."""
        progress = self.progress(wallet_id)
        return [
            progress.standing(m, m.spec.period.key(at))
            for m in self.missions()
            if m.spec.open_at(at)
        ]

    def completions(self, wallet_id: UUID) -> list[Completion]:
        progress = self.progress(wallet_id)
        return sorted(
            progress.completions.values(), key=lambda x: (x.occurred_at, str(x.completion_id))
        )

    def check_ins(self, wallet_id: UUID) -> list[Fact]:
        progress = self.progress(wallet_id)
        facts = [f for f in progress.facts.values() if f.kind is FactKind.CHECKED_IN]
        return sorted(facts, key=lambda f: f.at)

    def activities(self) -> list[Activity]:
        found: list[Activity] = []
        for mission in self.missions(include_retired=True):
            rule = mission.spec.rule
            if isinstance(rule, CheckInRule) and rule.activity_id is not None:
                activity = self.find(rule.activity_id, Activity)
                if activity is not None and activity.mission_id == mission.mission_id:
                    found.append(activity)
        return found
