"""The base of every KGO event contract and the value types events are made of.

Each event pins its wire name and major version as class variables; they are never derived
from a Python path, so moving a class never changes what is on the wire.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

#: A positive number of whole coins moved by one event.
Coins = Annotated[int, Field(strict=True, gt=0)]
#: A balance in whole coins; never negative.
CoinBalance = Annotated[int, Field(strict=True, ge=0)]
#: Thai baht in satang (1 baht = 100 satang); never negative.
Satang = Annotated[int, Field(strict=True, ge=0)]
#: Business time: when the fact happened, with its UTC offset (KGO writes Asia/Bangkok, +07:00).
#: The JSON Schema is pinned because the serializer alone would publish it as a bare string.
BusinessTime = Annotated[
    AwareDatetime,
    PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
#: A short free-text label or reference supplied by an operator or a calling system.
Text = Annotated[str, Field(min_length=1, max_length=200)]

AccountKind = Literal["issuer", "municipality", "budget", "resident", "shop", "operator"]

CE_SOURCE_PREFIX = "/kgo/"
CE_SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
#: Khon Kaen's offset; Thailand keeps no daylight saving time.
BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")


class ContractEvent(BaseModel):
    """A fact published on Kafka.

    Subclasses pin ``wire_name``, ``major``, ``topic`` and ``key_field``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    wire_name: ClassVar[str]
    major: ClassVar[int] = 1
    topic: ClassVar[str]
    #: The field whose value is the Kafka key and the CloudEvents subject.
    key_field: ClassVar[str]
    #: The field holding the event's business time (CloudEvents ``time``).
    time_field: ClassVar[str] = "occurred_at"

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents ``type``: wire name and major, e.g. ``kgo.wallet.CoinsGranted.v1``."""
        return f"{cls.wire_name}.v{cls.major}"

    @classmethod
    def ce_source(cls) -> str:
        """The CloudEvents ``source``: the publishing service, e.g. ``/kgo/wallet``."""
        return CE_SOURCE_PREFIX + cls.wire_name.split(".")[1]

    def ce_headers(self, ce_id: str) -> dict[str, str]:
        """The CloudEvents 1.0 Kafka binary-mode headers of this event. ``ce_id`` must be stable:
        the same stored event always gets the same id, so consumers can drop duplicates."""
        return {
            "ce_specversion": CE_SPECVERSION,
            "ce_id": ce_id,
            "ce_source": self.ce_source(),
            "ce_type": self.ce_type(),
            "ce_time": self.business_time().astimezone(BANGKOK).isoformat(),
            "ce_subject": self.key(),
            "content-type": CONTENT_TYPE,
        }

    def key(self) -> str:
        return str(getattr(self, self.key_field))

    def business_time(self) -> datetime:
        value: datetime = getattr(self, self.time_field)
        return value


__all__ = [
    "BANGKOK",
    "CE_SOURCE_PREFIX",
    "CE_SPECVERSION",
    "CONTENT_TYPE",
    "UUID",
    "AccountKind",
    "BusinessTime",
    "CoinBalance",
    "Coins",
    "ContractEvent",
    "Satang",
    "Text",
]
