"""What the transit service publishes: its stored domain events mapped to the public contracts
on ``kgo_contracts.topics.TRANSIT``. The relay calls :func:`to_contract` for every stored event.

One table, explicit per event class: the domain's ``Trip.FarePaid`` is the contract's
``FarePaid``, the network's changes keep their names, ``DenyList.PassDenied`` is
``PassDenied`` and ``Settlement.Recorded`` is ``OperatorSettled``. The rest (pass accounts,
a trip's first tap and its pending ask, credentials, receipts) is internal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from kgo_contracts import transit as c
from kgo_contracts.base import ContractEvent

from ..domain.ids import NETWORK_ID, pass_key
from ..domain.ledger import DenyList, Receipt, Settlement
from ..domain.network import Network
from ..domain.passes import PassAccount
from ..domain.trip import Trip
from ..domain.validator import Credential, Validator

INTERNAL: tuple[type[Any], ...] = (
    Network.Created,
    DenyList.Created,
    PassAccount.Event,
    Trip.Tapped,
    Trip.CoinsAsked,
    Credential.Event,
    Receipt.Event,
    Validator.CredentialRotated,
)


def _fare_paid(e: Any) -> ContractEvent:
    return c.FarePaid(
        trip_id=e.originator_id,
        wallet_id=e.wallet_id,
        validator_id=e.validator_id,
        route_id=e.route_id,
        fare_product=e.fare_product,
        coins=e.coins,
        baht_satang=e.baht_satang,
        occurred_at=e.tapped_at,
        tap_id=e.tap_id,
        bus_id=e.bus_id,
        campaign=e.campaign,
        offline=e.offline,
        shortfall_covered=e.shortfall_covered,
    )


def _fare_declined(e: Any) -> ContractEvent:
    return c.FareDeclined(
        trip_id=e.originator_id,
        tap_id=e.tap_id,
        pass_id=pass_key(e.pass_digest),
        pass_digest=e.pass_digest,
        wallet_id=e.wallet_id,
        validator_id=e.validator_id,
        bus_id=e.bus_id,
        route_id=e.route_id,
        reason=e.reason,
        fare_product=e.fare_product,
        baht_satang=e.baht_satang,
        offline=e.offline,
        occurred_at=e.tapped_at,
    )


def _pass_denied(e: Any) -> ContractEvent:
    return c.PassDenied(
        pass_id=pass_key(e.pass_digest),
        pass_digest=e.pass_digest,
        reason=e.reason,
        shortfall=e.shortfall,
        occurred_at=e.occurred_at,
    )


def _pass_reinstated(e: Any) -> ContractEvent:
    return c.PassReinstated(
        pass_id=pass_key(e.pass_digest),
        pass_digest=e.pass_digest,
        reason=e.reason,
        forgiven_coins=e.forgiven_coins,
        occurred_at=e.occurred_at,
    )


def _route_opened(e: Any) -> ContractEvent:
    return c.RouteOpened(
        network_id=e.originator_id,
        route_id=e.route_id,
        label=e.name,
        length_m=round(e.length_km * 1000),
        occurred_at=e.occurred_at,
    )


def _bus_registered(e: Any) -> ContractEvent:
    return c.BusRegistered(
        network_id=e.originator_id, bus_id=e.bus_id, route_id=e.route_id, occurred_at=e.occurred_at
    )


def _campaign_scheduled(e: Any) -> ContractEvent:
    return c.CampaignScheduled(
        network_id=e.originator_id,
        campaign_id=e.campaign_id,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
        coins=e.coins,
        baht_satang=e.baht_satang,
        programme=e.programme,
        daily_cap=e.daily_cap,
        occurred_at=e.occurred_at,
    )


def _validator_registered(e: Any) -> ContractEvent:
    return c.ValidatorRegistered(
        network_id=NETWORK_ID,
        validator_id=e.validator_id,
        bus_id=e.bus_id,
        route_id=e.route_id,
        occurred_at=e.occurred_at,
    )


def _settled(e: Any) -> ContractEvent:
    return c.OperatorSettled(
        settlement_id=e.originator_id,
        operator_account_id=e.operator_account_id,
        programme=e.programme,
        coins=e.coins,
        baht_satang=e.baht_satang,
        payment_reference=e.payment_reference,
        movement_id=e.movement_id,
        occurred_at=e.occurred_at,
    )


PUBLISHED: dict[type[Any], Callable[[Any], ContractEvent]] = {
    Trip.FarePaid: _fare_paid,
    Trip.FareDeclined: _fare_declined,
    DenyList.PassDenied: _pass_denied,
    DenyList.PassReinstated: _pass_reinstated,
    Network.RouteOpened: _route_opened,
    Network.BusRegistered: _bus_registered,
    Network.CampaignScheduled: _campaign_scheduled,
    Validator.Registered: _validator_registered,
    Settlement.Recorded: _settled,
}


def to_contract(event: DomainEventProtocol[Any]) -> ContractEvent | None:
    """The public contract of ``event``, or None for an event internal to transit.

    Exhaustive on purpose: an event class not handled here stops the relay with an error
    instead of being silently left unpublished.
    """
    mapping = PUBLISHED.get(type(event))
    if mapping is not None:
        return mapping(event)
    if isinstance(event, INTERNAL):
        return None
    raise TypeError(f"transit: no public mapping for {type(event).__qualname__}")
