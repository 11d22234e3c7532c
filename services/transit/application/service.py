"""The transit event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from kgo_runtime.application import ServiceApplication
from kgo_runtime.eventstore import get_many

from ..domain.ids import DENY_LIST_ID, NETWORK_ID
from ..domain.ledger import DenyList
from ..domain.network import Network

A = TypeVar("A", bound=Aggregate)


def of_kind(aggregate_id: UUID, found: Any, kind: type[A]) -> A | None:
    """``found`` (None: not found), if it is a ``kind``; a TypeError if it is another."""
    if found is None:
        return None
    if not isinstance(found, kind):
        raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
    return found


class TransitApplication(ServiceApplication):
    """The transit service's event store.

    ``name`` is pinned: it names the events table (``transit_events``) and the prefix of the
    eventsourcing env keys (``TRANSIT_AGGREGATE_CACHE_MAXSIZE``...), so renaming the class never
    moves the data.
    """

    name = "transit"

    def find(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate, or None. Read through :func:`~kgo_runtime.eventstore.get_many`
        (as :meth:`find_many`), which never changes a cached aggregate in place: the
        chunks in flight read at once."""
        return of_kind(aggregate_id, get_many(self, [aggregate_id]).get(aggregate_id), kind)

    def find_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Aggregate | None]:
        """What :meth:`find` gives for each of ``aggregate_ids`` (None: not found), read in
        one round trip on PostgreSQL (a chunk's pass accounts, its trips)."""
        wanted = list(aggregate_ids)
        found = get_many(self, wanted)
        return {aggregate_id: found.get(aggregate_id) for aggregate_id in wanted}

    def network(self) -> Network:
        return self.find(NETWORK_ID, Network) or Network.create()

    def deny_list(self) -> DenyList:
        return self.find(DENY_LIST_ID, DenyList) or DenyList.create()
