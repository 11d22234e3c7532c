"""Events on ``kgo.transit.events``.

Riders appear only by pseudonymous ids: ``wallet_id`` once the wallet has told transit whose
pass it was, and ``pass_digest``, a keyed digest of the pass (never the pass token or a card
number). Fares are judged at the validator's own tap time (``occurred_at``).
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from . import topics
from .base import BusinessTime, CoinBalance, Coins, ContractEvent, Satang, Text

PassDigest = Field(
    min_length=16,
    max_length=64,
    description="Keyed digest of the transit pass (HMAC-SHA256, base64url): pseudonymous; the "
    "pass token itself is never published.",
)
PassId = Field(
    description="Pseudonymous id of the transit pass (a UUID derived from its digest); the "
    "Kafka key of the records about one pass."
)
NetworkId = Field(
    description="The bus operator's network (one per city); the Kafka key of its changes, so "
    "they stay in order."
)
DeclineReason = Literal[
    "insufficient_coins", "fare_cap_reached", "double_tap", "pass_denied", "pass_unknown"
]


class FarePaid(ContractEvent):
    """A rider's fare was paid at a validator tap, in coins and baht."""

    wire_name: ClassVar[str] = "kgo.transit.FarePaid"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "wallet_id"

    trip_id: UUID
    wallet_id: UUID
    validator_id: Text
    route_id: Text
    fare_product: Text = Field(description="e.g. 'one-baht-bus-2022', 'regular', 'student'.")
    coins: CoinBalance
    baht_satang: Satang
    occurred_at: BusinessTime = Field(description="The validator's own tap time.")
    tap_id: Text | None = Field(default=None, description="The validator's id for the tap.")
    bus_id: Text | None = None
    campaign: Text | None = Field(
        default=None, description="The campaign in force at tap time; null: a baht-only fare."
    )
    offline: bool | None = Field(
        default=None, description="True if the tap reached transit in a validator's batch."
    )
    shortfall_covered: CoinBalance | None = Field(
        default=None,
        description="Coins of this fare the programme's loss budget paid the operator because "
        "the rider's coins were gone by upload time (offline taps); 0 otherwise.",
    )


class FareDeclined(ContractEvent):
    """A tap was declined: no coins were taken. ``baht_satang`` is the baht fare that applies
    instead (the regular fare for ``insufficient_coins``), 0 when nothing is due."""

    wire_name: ClassVar[str] = "kgo.transit.FareDeclined"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "pass_id"

    trip_id: UUID
    tap_id: Text
    pass_id: UUID = PassId
    pass_digest: str = PassDigest
    wallet_id: UUID | None = Field(default=None, description="The rider, if transit knows it.")
    validator_id: Text
    bus_id: Text
    route_id: Text
    reason: DeclineReason
    fare_product: Text
    baht_satang: Satang
    offline: bool
    occurred_at: BusinessTime = Field(description="The validator's own tap time.")


class PassDenied(ContractEvent):
    """A pass went on the deny list validators download (over its offline allowance)."""

    wire_name: ClassVar[str] = "kgo.transit.PassDenied"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "pass_id"

    pass_id: UUID = PassId
    pass_digest: str = PassDigest
    reason: Literal["offline_allowance_exceeded"]
    shortfall: CoinBalance = Field(description="Coins the loss budget covered for this pass.")
    occurred_at: BusinessTime


class PassReinstated(ContractEvent):
    """A pass came off the deny list by an operator's decision: validators stop refusing it,
    and the loss cover counted against it is forgiven (its offline allowance starts again)."""

    wire_name: ClassVar[str] = "kgo.transit.PassReinstated"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "pass_id"

    pass_id: UUID = PassId
    pass_digest: str = PassDigest
    reason: Literal["shortfall_repaid", "appeal_upheld", "denied_in_error"] = Field(
        description="Why: the rider repaid the operator outside KGO, an appeal was upheld, "
        "or the pass was denied in error."
    )
    forgiven_coins: CoinBalance = Field(
        description="Loss cover counted against the pass until now, forgiven."
    )
    occurred_at: BusinessTime


class RouteOpened(ContractEvent):
    """The bus operator opened a route."""

    wire_name: ClassVar[str] = "kgo.transit.RouteOpened"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "network_id"

    network_id: UUID = NetworkId
    route_id: Text
    label: Text = Field(description="The route's public name.")
    length_m: int = Field(strict=True, gt=0, description="The route's length in metres.")
    occurred_at: BusinessTime


class BusRegistered(ContractEvent):
    """A bus was put on a route."""

    wire_name: ClassVar[str] = "kgo.transit.BusRegistered"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "network_id"

    network_id: UUID = NetworkId
    bus_id: Text
    route_id: Text
    occurred_at: BusinessTime


class ValidatorRegistered(ContractEvent):
    """A validator (card and QR reader) was installed on a bus; its credential is not here."""

    wire_name: ClassVar[str] = "kgo.transit.ValidatorRegistered"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "network_id"

    network_id: UUID = NetworkId
    validator_id: Text
    bus_id: Text
    route_id: Text
    occurred_at: BusinessTime


class CampaignScheduled(ContractEvent):
    """A fare campaign: inside ``[starts_at, ends_at]`` (inclusive) a ride costs ``coins``
    plus ``baht_satang``; ``daily_cap`` coin rides per pass per Bangkok day at most."""

    wire_name: ClassVar[str] = "kgo.transit.CampaignScheduled"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "network_id"

    network_id: UUID = NetworkId
    campaign_id: Text
    starts_at: BusinessTime
    ends_at: BusinessTime
    coins: Coins
    baht_satang: Satang
    programme: Text = Field(description="The budget the operator's coins go back to.")
    daily_cap: int | None = Field(default=None, ge=1)
    occurred_at: BusinessTime


class OperatorSettled(ContractEvent):
    """The bus operator returned coins to a programme budget for baht the programme paid it
    outside KGO (the wallet's movement is ``movement_id``)."""

    wire_name: ClassVar[str] = "kgo.transit.OperatorSettled"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "operator_account_id"

    settlement_id: UUID
    operator_account_id: UUID
    programme: Text
    coins: Coins
    baht_satang: Satang
    payment_reference: Text
    movement_id: UUID
    occurred_at: BusinessTime


TRANSIT_EVENTS: tuple[type[ContractEvent], ...] = (
    FarePaid,
    FareDeclined,
    PassDenied,
    PassReinstated,
    RouteOpened,
    BusRegistered,
    ValidatorRegistered,
    CampaignScheduled,
    OperatorSettled,
)
