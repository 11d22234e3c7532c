"""A batch's unit of work: the aggregates a batch of commands loads, creates and changes,
saved together in one transaction.

In the fast path an aggregate absent from the ledger's cache that a command would *create*
(a receipt, an identity claim) is assumed not to exist: if it does, the save conflicts on its
first version and the batch is decided again in the careful path, which reads everything.

The instruments a batch's authorisations name (codes, cards, passes: never cached, never
snapshotted) are read for the whole batch in one round trip before it is decided
(:meth:`UnitOfWork.preload`), not one after another by each command: a read per fare was
most of the writer's time over HTTP.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from ..domain.account import Account
from ..domain.errors import AccountNotFound

A = TypeVar("A", bound=Aggregate)


class AggregateCache:
    """The writer's cache of committed aggregates, least recently used evicted first."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()

    def get(self, key: UUID) -> Aggregate | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: UUID, item: Aggregate) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def catch_up(
        self, stored: Iterable[StoredEvent], to_domain_event: Callable[[StoredEvent], Any]
    ) -> int:
        """Bring the cached copies up to date with events another writer stored (given in
        the log's order); a copy that cannot be brought up to date (an event missing before
        it, or one it cannot apply) is evicted, to be read again from the store. The number
        of events applied."""
        applied = 0
        for record in stored:
            key = record.originator_id
            key = key if isinstance(key, UUID) else UUID(key)
            item = self._items.get(key)
            if item is None or record.originator_version <= item.version:
                continue  # not cached (receipts never are), or this copy has it already
            try:
                if record.originator_version != item.version + 1:
                    raise LookupError("an event is missing before this one")
                to_domain_event(record).mutate(item)
            except Exception:  # whatever it is, the store has the truth
                self._items.pop(key, None)
                continue
            applied += 1
        return applied

    def evict(self, keys: Any) -> None:
        for key in keys:
            self._items.pop(key, None)


#: Every stored event of the given aggregates, by aggregate and version (one round trip).
SelectMany = Callable[[Sequence[UUID]], Sequence[StoredEvent]]


class UnitOfWork:
    def __init__(
        self,
        repository: Repository[UUID],
        cache: AggregateCache,
        *,
        careful: bool,
        select_many: SelectMany | None = None,
    ) -> None:
        self._repository = repository
        self._cache = cache
        self._select_many = select_many
        #: Aggregates read by :meth:`preload` (None: it does not exist), not yet found.
        self._preloaded: dict[UUID, Aggregate | None] = {}
        self.careful = careful
        self.touched: dict[UUID, Aggregate] = {}
        #: Pending-event counts of the aggregates the current command has seen, taken when it
        #: first saw each one: what a refused command must leave as it found it.
        self.seen: dict[UUID, int] = {}
        self.created: list[UUID] = []
        #: Versions of the aggregates taken from the writer's cache, as taken. Another
        #: process may have written them since: what the batch saves is checked by the
        #: store's unique versions, what it only read must be checked before it answers
        #: (see :meth:`unsaved_reads`).
        self.cached_versions: dict[UUID, int] = {}

    def begin_command(self) -> None:
        self.seen = {}
        self.created = []

    def preload(self, aggregate_ids: Iterable[UUID]) -> None:
        """Read the aggregates ``aggregate_ids`` that are not cached, all in one round trip,
        for :meth:`find` to take. Only for aggregates that are never snapshotted (the
        instruments): they are rebuilt from their events alone."""
        wanted = [i for i in dict.fromkeys(aggregate_ids) if self._cache.get(i) is None]
        if not wanted or self._select_many is None:
            return
        events: dict[UUID, list[Any]] = {i: [] for i in wanted}
        mapper = self._repository.event_store.mapper
        for stored in self._select_many(wanted):
            key = stored.originator_id
            events[key if isinstance(key, UUID) else UUID(key)].append(
                mapper.to_domain_event(stored)
            )
        for aggregate_id, domain_events in events.items():
            self._preloaded[aggregate_id] = project_aggregate(None, domain_events)

    def find(self, aggregate_id: UUID, kind: type[A], *, may_be_new: bool = False) -> A | None:
        """The aggregate, or None if it does not exist. ``may_be_new`` marks ids the command
        would create; in the fast path they are not read from the store."""
        found = self.touched.get(aggregate_id)
        if found is None:
            found = self._cache.get(aggregate_id)
            if found is not None:
                self.cached_versions[aggregate_id] = found.version
        if found is None and aggregate_id in self._preloaded:
            found = self._preloaded.pop(aggregate_id)
            if found is None:
                return None
        elif found is None and (self.careful or not may_be_new):
            try:
                found = self._repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        if found is None:
            return None
        if not isinstance(found, kind):
            raise AccountNotFound(f"{aggregate_id} is not a {kind.__name__}")
        self.touched[aggregate_id] = found
        self.seen.setdefault(aggregate_id, len(found._pending_events))
        return found

    def account(self, account_id: UUID, role: str = "account") -> Account:
        account = self.find(account_id, Account)
        if account is None:
            raise AccountNotFound(f"{role} {account_id} does not exist")
        return account

    def add(self, aggregate: Aggregate) -> None:
        self.touched[aggregate.id] = aggregate
        self.created.append(aggregate.id)

    def undo_command(self) -> bool:
        """Forget what a refused command created. Returns False if it changed an aggregate
        that existed before it (a handler must check its rules before triggering events)."""
        for key in self.created:
            self.touched.pop(key, None)
        return all(
            len(self.touched[k]._pending_events) == n
            for k, n in self.seen.items()
            if k in self.touched
        )

    def aggregates(self) -> list[Aggregate]:
        return list(self.touched.values())

    def unsaved_reads(self) -> dict[UUID, int]:
        """The cached aggregates the batch read and does not save (a refusal reads a wallet
        and writes only its receipt), with the versions it decided on."""
        return {
            key: version
            for key, version in self.cached_versions.items()
            if key in self.touched and not self.touched[key]._pending_events
        }
