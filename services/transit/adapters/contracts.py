"""What the transit service publishes: its stored domain events mapped to the public contracts
on ``kgo_contracts.topics.TRANSIT``. The relay calls :func:`to_contract` for every stored event."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol

from kgo_contracts.base import ContractEvent


def to_contract(event: DomainEventProtocol[Any]) -> ContractEvent | None:
    """The public contract of ``event``, or None for an event internal to transit.

    Exhaustive on purpose: an event class not handled here stops the relay with an error
    instead of being silently left unpublished.
    """
    raise TypeError(f"transit: no public mapping for {type(event).__qualname__}")
