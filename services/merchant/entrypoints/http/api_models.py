"""Request bodies, validated at the edge; the domain gets typed values."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ...domain.districts import Category, SizeClass

Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
#: No amount (coins or satang) past this is meant: a bill of ten billion baht is a typo or an
#: attack, and refusing it here keeps every sum well inside the stores' 64-bit integers.
MAX_AMOUNT = 10**12
PositiveInt = Annotated[int, Field(strict=True, gt=0, le=MAX_AMOUNT)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RulesBody(_Body):
    coin_value_satang: PositiveInt = 100
    max_coin_share_percent: Annotated[int, Field(strict=True, ge=1, le=100)] = 50
    cap_per_bill_coins: PositiveInt | None = None
    matching_programme: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None


class ContactBody(_Body):
    """The shop's contact: personal data, kept out of every event."""

    person: Text
    phone: Annotated[str, Field(pattern=r"^\+?[0-9 -]{6,20}$")]
    email: Annotated[str, Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class EnrolRequest(_Body):
    name: Text
    category: Category
    district: Text = Field(description="One of Khon Kaen's 26 districts, e.g. Mueang Khon Kaen.")
    latitude: float
    longitude: float
    size_class: SizeClass
    rules: RulesBody = Field(default_factory=RulesBody)
    contact: ContactBody


class SuspendRequest(_Body):
    reason: Text


class TillRequest(_Body):
    label: Text = "till"


#: What a payment code's QR code holds: this prefix and the digits.
QR_PREFIX = "kgo:pay:"


def _scanned(value: object) -> object:
    return value.removeprefix(QR_PREFIX) if isinstance(value, str) else value


def _digits_only(value: object) -> object:
    return value.replace(" ", "").replace("-", "") if isinstance(value, str) else value


class CardBody(_Body):
    """A printed card and the PIN the resident types at the till: passed to the wallet,
    never stored nor logged by the merchant."""

    card_number: Annotated[str, BeforeValidator(_digits_only), Field(
        pattern=r"^[0-9]{16}$", description="16 digits; spaces and dashes are ignored",
        examples=["4821390755120034"],
    )]  # fmt: skip
    pin: Annotated[str, Field(pattern=r"^[0-9]{4,6}$", repr=False, examples=["2580"])]


class RedeemRequest(_Body):
    """Exactly one of `payment_code` or `card` (both or neither: 422 `invalid_request`)."""

    payment_code: (
        Annotated[str, BeforeValidator(_scanned), Field(pattern=r"^[0-9]{6,8}$")] | None
    ) = Field(
        default=None,
        description="The code the resident's app shows (6-8 digits), as typed or scanned "
        "from its QR payload (`kgo:pay:<code>`).",
    )  # fmt: skip
    card: CardBody | None = Field(
        default=None, description="A printed card and its PIN, for residents without a phone."
    )
    bill_satang: PositiveInt
    coins: PositiveInt
    wallet_id: UUID | None = Field(
        default=None,
        description="The customer's wallet, if the till knows it: a code or card that belongs "
        "to another wallet is then declined (`payment_code_invalid`, `card_invalid`).",
    )


class RewardRequest(_Body):
    receive_code: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
    coins: PositiveInt
    source: Literal["shop", "matching"] = "shop"


class SettleRequest(_Body):
    coins: PositiveInt
    baht_satang: Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT)]
    payment_reference: Text
    programme: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None
