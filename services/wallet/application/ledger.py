"""The wallet ledger: an eventsourcing application that decides commands in batches.

Every event of a batch — the accounts' entries and the commands' receipts — is stored in one
transaction. The event store serialises its writers anyway (it locks the table on insert), so
deciding many commands per transaction is where the throughput comes from, and a hot account
such as a programme budget is loaded once per batch instead of once per grant.

Concurrency with other wallet processes is optimistic: a conflicting save raises
IntegrityError, the touched aggregates are dropped from the cache, and the batch is decided
again from the store. No balance can go below zero because every decision is made on the
aggregate's latest committed version and the save fails otherwise. What a batch only read
from the cache (a refused spend reads the wallet and saves only its receipt) no save would
check: its versions are compared with the store's before the batch is saved, and a copy
another process has moved on from is read again (else a wallet cached before another
process's grant would refuse every spend as unfunded).

Several processes on one store (``WALLET_HTTP_WORKERS`` above 1, or several pods) race for
the same hot accounts (every fare credits the bus operator): each batch of one writer then
lost its save to the other's, was decided again and paused, and two processes took fewer
spends than one. So a writer that sees another writer (a lost save, or a copy read while
another process moved it on) takes turns with the others for a while (:class:`Turns`): one
writer decides and saves at a time, and at the start of its turn it applies to its cached
copies the events the others stored meanwhile (read with the turn, in the same round trip),
so it decides on their latest versions instead of losing the save or reading each again.
Turns only spare the lost saves: the optimistic checks above still decide what is stored.
A writer that loses a save decides that batch again in a turn, and every save tells its
writer whether another holds the turn (or waits for it), so a writer that keeps winning
takes turns too instead of racing the one waiting. A lone writer never takes turns (no
round trip more per batch).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from ..domain.account import Account
from ..domain.errors import Refused
from ..domain.ids import receipt_id
from ..domain.receipt import CommandReceipt
from .commands import Command, Outcome, PlaceHold, Spend
from .consent import instruments_read
from .handlers import HANDLERS
from .undecided import StoreUnavailable
from .unit_of_work import AggregateCache, UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 30


class Turns:
    """When this writer takes turns with the other writers of its store (see the module's
    docstring): from a sign of another writer until :attr:`hold` seconds pass without one.
    ``recorder``: the store's recorder, if it can give turns (``take_turn``/``end_turn``)."""

    #: Seconds turns go on after the last sign of another writer.
    hold: ClassVar[float] = 30.0
    #: At most this many events stored by others between two turns are applied to the
    #: cached copies; more, and the writer forgets every copy it holds.
    most: ClassVar[int] = 10_000

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder if hasattr(recorder, "take_turn") else None
        self._until = 0.0
        #: The log's last notification id this writer knows every aggregate up to.
        self._after: int | None = None
        self._taken = False
        #: Turns taken, and of them those in which another writer had stored something.
        self.taken = 0
        self.shared = 0
        #: Events of other writers applied to this writer's cached copies.
        self.caught_up = 0

    def other_writer_seen(self) -> None:
        if self.recorder is not None:
            self._until = time.monotonic() + self.hold

    @property
    def in_turn(self) -> bool:
        """Whether this writer holds the turn now (taken, not yet ended)."""
        return self._taken

    @property
    def active(self) -> bool:
        return self.recorder is not None and time.monotonic() < self._until

    def begin(self, cache: AggregateCache, to_domain_event: Callable[[Any], Any]) -> None:
        """Take the turn, if turns are on, and bring the cached copies of what the others
        stored since the last turn up to date (:meth:`AggregateCache.catch_up`)."""
        recorder = self.recorder
        if recorder is None or not self.active:
            self._after = None  # turns off: what others store is not followed
            return
        got = recorder.take_turn(self._after, self.most)
        if got is None:  # no turn this time: optimistic, as without turns
            self._after = None
            return
        self._taken = True
        self.taken += 1
        stored, last = got
        if self._after is not None and stored:
            self.shared += 1
            self.other_writer_seen()
            if len(stored) >= self.most:
                cache.clear()
            else:
                self.caught_up += cache.catch_up(stored, to_domain_event)
        self._after = last

    def end(self, notification_ids: Sequence[int]) -> None:
        recorder = self.recorder
        if recorder is None or not self._taken:
            return
        self._taken = False
        if notification_ids and self._after is not None:
            self._after = max(self._after, max(notification_ids))
        recorder.end_turn()


class WalletLedger(Application[UUID]):
    name = "wallet"
    is_snapshotting_enabled = True
    #: An account is snapshotted each time its version passes a multiple of this.
    snapshot_every: ClassVar[int] = 100

    def __init__(self, env: Mapping[str, str] | None = None, *, cache_size: int = 200_000) -> None:
        super().__init__(env)
        self.cache = AggregateCache(cache_size)
        # One writer at a time per process: the cache holds the aggregates it mutates.
        self._writer = threading.Lock()
        self.turns = Turns(self.recorder)
        #: Notification ids of the last batch saved (what the next turn starts after).
        self._saved: Sequence[int] = ()
        #: Saves another writer of the store won (the batch was decided again).
        self.lost_saves = 0
        # The wallet's Postgres recorder reads many aggregates in one round trip; other
        # recorders (in memory, in tests) are read one aggregate at a time.
        self._select_many = getattr(self.recorder, "select_events_of", None)

    # --- commands ---------------------------------------------------------------------------

    def execute(
        self, commands: Sequence[Command], deadlines: Sequence[float | None] | None = None
    ) -> list[Outcome]:
        """Decide and store a batch of commands, in order; one transaction for all of them.

        ``deadlines`` (``time.monotonic()`` values, one per command or None): a command whose
        deadline has passed before the batch is saved is left out of it, undecided (its
        outcome is :data:`EXPIRED`), so a caller that gave up never has it executed later.
        Raises :class:`StoreUnavailable` when the store cannot be reached: nothing is stored.
        """
        with self._writer:
            self._saved = ()
            self.turns.begin(self.cache, self.mapper.to_domain_event)
            try:
                return self._execute(commands, deadlines or [None] * len(commands))
            finally:
                self.turns.end(self._saved)

    def close(self) -> None:
        close_turns = getattr(self.recorder, "close_turns", None)
        if close_turns is not None:
            close_turns()
        super().close()

    def _execute(
        self, commands: Sequence[Command], deadlines: Sequence[float | None]
    ) -> list[Outcome]:
        careful = False
        poisoned: set[int] = set()
        expired: set[int] = set()
        for _attempt in range(MAX_ATTEMPTS):
            expired |= _past(deadlines)
            uow = UnitOfWork(
                self.repository, self.cache, careful=careful, select_many=self._select_many
            )
            try:
                uow.preload(_instruments(commands, expired | poisoned))
                outcomes = [
                    _INTERNAL_ERROR if i in poisoned
                    else EXPIRED if i in expired
                    else self._decide(uow, i, cmd)
                    for i, cmd in enumerate(commands)
                ]  # fmt: skip
            except _Poisoned as poison:
                self.cache.evict(uow.touched)
                poisoned.add(poison.index)
                continue
            except STORE_ERRORS as error:
                # Decided but unsaved state must not survive in the cache.
                self.cache.evict(uow.touched)
                raise StoreUnavailable(f"the event store cannot be reached: {error}") from error
            if _past(deadlines) - expired - poisoned:
                # A caller's deadline passed while its batch was decided: decide the batch
                # again without it rather than store an answer nobody waits for.
                self.cache.evict(uow.touched)
                continue
            try:
                stale = self._stale(uow.unsaved_reads())
            except STORE_ERRORS as error:
                self.cache.evict(uow.touched)  # decided, unsaved state
                raise StoreUnavailable(f"the event store cannot be reached: {error}") from error
            if stale:
                # Another process wrote an account this batch only read (the batch would
                # answer from an old copy, e.g. refuse a spend the wallet now covers):
                # decide it again from the store.
                self.cache.evict(uow.touched)
                self._take_turns()
                careful = True
                continue
            aggregates = [a for a in uow.aggregates() if a._pending_events]
            first_versions = {a.id: a.version - len(a._pending_events) for a in aggregates}
            try:
                # The event store's own put: Application.save would check every aggregate
                # against runtime protocols, which costs more than deciding the command.
                recordings = self.events.put([e for a in aggregates for e in a.collect_events()])
            except IntegrityError:
                # Another process saved first: decide again from the store, after a short
                # random pause so that two writers racing for one account fall out of step.
                self.cache.evict(uow.touched)
                self.lost_saves += 1
                self._take_turns()
                careful = True
                time.sleep(random.uniform(0, 0.002 * (_attempt + 1)))
                continue
            except STORE_ERRORS as error:
                # Whether the insert committed is unknown: a retry with the same key finds
                # its receipt, or decides it again.
                self.cache.evict(uow.touched)
                raise StoreUnavailable(f"the event store cannot be reached: {error}") from error
            except BaseException:
                # Nothing was stored: forget the decided, unsaved state before anyone sees it.
                self.cache.evict(uow.touched)
                raise
            # Only accounts are worth keeping: receipts and identity claims are written once
            # and read again only on a retry, which the careful path serves from the store.
            for aggregate_id, aggregate in uow.touched.items():
                if isinstance(aggregate, Account):
                    self.cache.put(aggregate_id, aggregate)
            self._saved = [r.notification.id for r in recordings]
            self._heard_of_turns()
            self._snapshot(aggregates, first_versions)
            return outcomes
        raise RuntimeError(f"batch of {len(commands)} commands still conflicting after retries")

    def _take_turns(self) -> None:
        """Another writer was seen: from now on take turns with it, starting with this
        batch's next attempt (deciding it again without a turn, two writers racing for one
        account could each lose every attempt until the batch's callers gave up: seen at the
        start of load on two HTTP processes, answers of 503 after 5 s)."""
        self.turns.other_writer_seen()
        if not self.turns.in_turn:
            self.turns.begin(self.cache, self.mapper.to_domain_event)

    def _heard_of_turns(self) -> None:
        """After a save: if it found another writer holding the turn or waiting for it (the
        store says so with the save), take turns from the next batch. Without this, a writer
        that kept winning never learnt of the one losing to it, and that one lost every
        attempt of a batch in its turn while the winner went on without."""
        if getattr(self.recorder, "turn_wanted", False):
            self.recorder.turn_wanted = False  # type: ignore[attr-defined]
            if not self.turns.in_turn:  # its own turn is what a writer in one finds
                self.turns.other_writer_seen()

    def _decide(self, uow: UnitOfWork, index: int, cmd: Command) -> Outcome:
        rid = receipt_id(cmd.caller, cmd.idempotency_key)
        request_hash = cmd.request_hash()
        receipt = uow.find(rid, CommandReceipt, may_be_new=True)
        if receipt is not None:
            try:
                status, body = receipt.replay_for(cmd.name, request_hash)
            except Refused as refused:
                return Outcome(refused.status, {"code": refused.code, "reason": refused.reason})
            return Outcome(status, body, replayed=True)
        uow.begin_command()
        try:
            status, body = HANDLERS[type(cmd)](uow, cmd, rid)
        except Refused as refused:
            if not uow.undo_command():
                raise _Poisoned(index) from refused
            status, body = refused.status, {"code": refused.code, "reason": refused.reason}
        except STORE_ERRORS:
            raise  # the store is down, the command is fine: the whole batch waits for it
        except Exception as error:  # a bug, not a refusal: decide the batch again without it
            log.exception("command %s failed", cmd.name)
            raise _Poisoned(index) from error
        uow.add(
            CommandReceipt.record(
                rid,
                command=cmd.name,
                request_hash=request_hash,
                status=status,
                answer=body,
                at=cmd.at,
            )
        )
        return Outcome(status, body)

    def _stale(self, read: dict[UUID, int]) -> set[UUID]:
        """Of ``read`` (id: version decided on), the ids the store holds a later version of."""
        if not read:
            return set()
        latest = self._latest_versions(list(read))
        return {key for key, version in read.items() if latest.get(key, version) != version}

    def _latest_versions(self, ids: list[UUID]) -> dict[UUID, int]:
        latest = getattr(self.recorder, "latest_versions", None)
        if latest is not None:  # the Postgres store: one query for all of them
            found: dict[UUID, int] = latest(ids)
            return found
        versions = {}
        for key in ids:
            events = self.recorder.select_events(key, desc=True, limit=1)
            if events:
                versions[key] = events[0].originator_version
        return versions

    def _snapshot(self, aggregates: list[Any], first_versions: dict[UUID, int]) -> None:
        """Snapshot long-lived accounts from memory, so loading one stays fast without
        reading its events back from the store."""
        every = self.snapshot_every
        due = [
            a
            for a in aggregates
            if isinstance(a, Account) and a.version // every > first_versions[a.id] // every
        ]
        if due and self.snapshots is not None:
            self.snapshots.put([Account.Snapshot.take(a) for a in due])

    # --- queries (always from the committed store, never from the writer's cache) -----------

    def account(self, account_id: UUID) -> Account | None:
        try:
            aggregate: Any = self.repository.get(account_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, Account) else None


class _Poisoned(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _instruments(commands: Sequence[Command], left_out: set[int]) -> list[UUID]:
    """The instruments the batch's authorisations name, read for all of it at once."""
    return [
        instrument
        for i, cmd in enumerate(commands)
        if i not in left_out and isinstance(cmd, Spend | PlaceHold) and cmd.authorisation
        for instrument in instruments_read(cmd.authorisation)
    ]


def _past(deadlines: Sequence[float | None]) -> set[int]:
    now = time.monotonic()
    return {i for i, deadline in enumerate(deadlines) if deadline is not None and deadline <= now}


#: The store could not be reached (a read or the save): not the command's fault.
STORE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

#: The outcome of a command left out of its batch because its deadline passed: not decided,
#: nothing stored (the bus answers its caller :class:`DeadlineExceeded`).
EXPIRED = Outcome(503, {"code": "deadline_exceeded", "reason": "not decided in time"})

_INTERNAL_ERROR = Outcome(
    500, {"code": "internal_error", "reason": "the command could not be decided"}
)
