"""Bodies of the consent API: the authorisation a payment carries, and the instruments a
resident (or a counter) creates. Secrets are digits or a ``kgot_`` token; spaces and dashes a
person types into a card number are ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from kgo_runtime.writes import IDEMPOTENCY_KEY_PATTERN

from .api_models import Body, Coins, Text

#: What a payment code's QR code holds: this prefix and the 8 digits.
QR_PREFIX = "kgo:pay:"


def _digits_only(value: object) -> object:
    return value.replace(" ", "").replace("-", "") if isinstance(value, str) else value


def _scanned(value: object) -> object:
    return value.removeprefix(QR_PREFIX) if isinstance(value, str) else value


Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$"), Field(examples=["48213907"])]
#: A payment code as typed, or as scanned from its QR payload.
PaymentCode = Annotated[
    str,
    BeforeValidator(_scanned),
    StringConstraints(pattern=r"^[0-9]{8}$"),
    Field(examples=["48213907", "kgo:pay:48213907"]),
]
CardNumber = Annotated[
    str,
    BeforeValidator(_digits_only),
    StringConstraints(pattern=r"^[0-9]{16}$"),
    Field(examples=["4821390755120034"]),
]
Pin = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,6}$"), Field(examples=["2580"])]
PassToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class PaymentCodeAuth(Body):
    kind: Literal["payment_code"]
    code: PaymentCode


class CardAuth(Body):
    kind: Literal["card"]
    card_number: CardNumber
    pin: Pin = Field(repr=False)


class TransitPassAuth(Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["transit_pass"]
    pass_token: PassToken = Field(alias="pass", description="A linked pass, or a card number")


AuthorisationBody = Annotated[
    PaymentCodeAuth | CardAuth | TransitPassAuth,
    Field(discriminator="kind", description="The resident's consent to this payment"),
]


class SpendRequest(Body):
    """A payment from the wallet the authorisation belongs to. ``wallet_id`` is optional: if
    sent, a different wallet's authorisation is refused."""

    payee_id: UUID
    amount: Coins
    reference: Text
    wallet_id: UUID | None = None
    authorisation: AuthorisationBody


#: Spends one batch may carry (a transit chunk is at most 50).
MAX_SPEND_BATCH = 100


#: What a spend of a batch may be authorised by: no card and PIN (a PIN is checked with a
#: slow hash, and a batch would check a hundred at once).
BatchAuthorisation = Annotated[
    PaymentCodeAuth | TransitPassAuth,
    Field(discriminator="kind", description="A payment code or a transit pass"),
]


class BatchSpend(SpendRequest):
    """One spend of a batch: a spend's body with its own idempotency key, authorised by a
    payment code or a transit pass (a card and its PIN go one spend a request)."""

    authorisation: BatchAuthorisation

    idempotency_key: Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN)] = Field(
        description="This spend's key, as the `Idempotency-Key` of a single `POST /v1/spends` "
        "(the same key there and here is the same spend)"
    )


class SpendBatchRequest(Body):
    """Spends decided independently (each with its own authorisation and key), answered
    together in their order. A retry of the batch is a retry of each spend in it."""

    spends: Annotated[list[BatchSpend], Field(min_length=1, max_length=MAX_SPEND_BATCH)]

    @model_validator(mode="after")
    def _keys_unique(self) -> SpendBatchRequest:
        keys = [spend.idempotency_key for spend in self.spends]
        if len(set(keys)) != len(keys):
            raise ValueError("every spend of a batch needs an idempotency_key of its own")
        return self


class HoldRequest(SpendRequest):
    ttl_seconds: Annotated[int, Field(strict=True, ge=5, le=86_400)] | None = Field(
        default=None, description="Seconds the hold lives; the wallet's default when omitted"
    )


class ResolveRequest(Body):
    """Exactly one of ``code`` (a receive code) or ``card_number``."""

    code: Code | None = None
    card_number: CardNumber | None = None


class CardRequest(Body):
    pin: Pin = Field(repr=False)


# --- responses -----------------------------------------------------------------------------


class IssuedCode(Body):
    code: str = Field(description="8 digits; shown once, and again only to a retry")
    qr_payload: str | None = Field(default=None, description="Payment codes: `kgo:pay:<code>`")
    expires_at: datetime
    wallet_id: UUID


class LinkedPass(Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    pass_token: str = Field(alias="pass", description="A `kgot_` token, for the pass's QR code")
    wallet_id: UUID


class IssuedCard(Body):
    card_number: str
    wallet_id: UUID


class SpendAnswer(Body):
    movement_id: UUID
    wallet_id: UUID = Field(description="The wallet the authorisation belongs to")
    amount: int


class BatchSpendResult(Body):
    """One spend's answer: ``status`` is what ``POST /v1/spends`` would have answered (201,
    or a problem's status with its ``code`` and ``detail``; 503: not decided, retry it)."""

    status: int
    movement_id: UUID | None = None
    wallet_id: UUID | None = None
    amount: int | None = None
    code: str | None = None
    detail: str | None = None
    replayed: bool = Field(default=False, description="The stored first answer to this key")


class SpendBatchAnswer(Body):
    results: list[BatchSpendResult]


class HoldAnswer(Body):
    hold_id: UUID
    wallet_id: UUID = Field(description="The wallet the authorisation belongs to")
    amount: int
    expires_at: datetime


class ResolvedWallet(Body):
    wallet_id: UUID
