"""Request bodies of the transit API, validated at the edge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
#: A QR pass token or a printed card's number (a secret: never logged, stored only digested).
PassToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*$")]
#: No amount (coins or satang) past this is meant; refusing it here keeps every sum well inside
#: the stores' 64-bit integers.
MAX_AMOUNT = 10**12
WholeCoins = Annotated[int, Field(strict=True, gt=0, le=MAX_AMOUNT)]
Satang = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TapBody(Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tap_id: Ident = Field(description="The validator's own id for the tap, unique per validator.")
    pass_token: PassToken = Field(alias="pass", repr=False)
    tapped_at: AwareDatetime = Field(description="The validator's own clock, with its offset.")
    fare_product: Literal["regular", "student"] = "regular"


class BatchBody(Body):
    taps: list[TapBody] = Field(min_length=1, max_length=10_000)


class RouteBody(Body):
    route_id: Ident
    name: Text
    length_km: float = Field(gt=0, le=500)


class BusBody(Body):
    bus_id: Ident
    route_id: Ident


class CampaignBody(Body):
    campaign_id: Ident
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="Inclusive: a tap at this very second counts.")
    coins: WholeCoins
    baht_satang: Satang
    programme: Ident
    daily_cap: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = None


class ValidatorBody(Body):
    validator_id: Ident
    bus_id: Ident


class SettlementBody(Body):
    programme: Ident
    coins: WholeCoins
    baht_satang: Satang
    payment_reference: Text
