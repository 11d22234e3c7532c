"""The transit event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from ..domain.ids import DENY_LIST_ID, NETWORK_ID
from ..domain.ledger import DenyList
from ..domain.network import Network

A = TypeVar("A", bound=Aggregate)


class TransitApplication(Application[UUID]):
    """The transit service's event store.

    ``name`` is pinned: it names the events table (``transit_events``) and the prefix of the
    eventsourcing env keys (``TRANSIT_AGGREGATE_CACHE_MAXSIZE``...), so renaming the class never
    moves the data.
    """

    name = "transit"

    def find(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        try:
            found: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(found, kind):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def network(self) -> Network:
        return self.find(NETWORK_ID, Network) or Network.create()

    def deny_list(self) -> DenyList:
        return self.find(DENY_LIST_ID, DenyList) or DenyList.create()
