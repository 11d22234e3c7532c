"""Request and response bodies of the wallet's HTTP API: the contract at the edge.

Coins are whole numbers sent as JSON integers (1.5, "5" and true are refused), at most the
fixed supply. Every body refuses fields it does not know.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from ...domain.movements import TOTAL_SUPPLY
from .auth import Role, check_subject
from .thai_ids import thai_mobile, thai_national_id

Coins = Annotated[int, Field(strict=True, gt=0, le=TOTAL_SUPPLY, description="Whole coins")]
#: No control characters (NUL among them): text goes into events, tables and logs.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PRINTABLE)
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=PRINTABLE)
]
Programme = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$"), Field(examples=["welcome"])
]
#: Another service's own id of a shop or the bus operator: visible characters, no spaces.
ExternalRef = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,100}$")]
NationalId = Annotated[str, AfterValidator(thai_national_id), Field(examples=["1101700230705"])]
Mobile = Annotated[str, AfterValidator(thai_mobile), Field(examples=["+66 81 234 5678"])]


def _in_the_past(born: date) -> date:
    if not date(1900, 1, 1) <= born <= date.today():
        raise ValueError("a birth date is a past date after 1900")
    return born


BirthDate = Annotated[date, AfterValidator(_in_the_past)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenBudgetRequest(Body):
    programme: Programme
    label: Text


class BudgetTransferRequest(Body):
    amount: Coins
    memo: Text | None = None


class OpenPayeeRequest(Body):
    kind: Literal["shop", "operator"]
    external_ref: ExternalRef
    label: Text


class RegisterResidentRequest(Body):
    """Personal data: sealed before it leaves the edge, never logged, never published."""

    national_id: NationalId
    phone: Mobile
    full_name: Text | None = None
    birth_date: BirthDate | None = None

    def personal_data(self) -> dict[str, Any]:
        """What the vault seals: the normalised values, the absent ones left out."""
        return self.model_dump(mode="json", exclude_none=True)


class GrantRequest(Body):
    programme: Programme
    wallet_id: UUID
    amount: Coins
    reason: Text
    reference: Text


# SpendRequest and HoldRequest, with their authorisation: api_models_consent.py


class CaptureRequest(Body):
    payee_id: UUID
    amount: Coins | None = Field(default=None, description="Coins to capture; all when omitted")


class ReleaseRequest(Body):
    payee_id: UUID | None = None


class TokenRequest(Body):
    role: Role
    name: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,100}$")]
    subject: (
        Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)] | None
    ) = None

    @model_validator(mode="after")
    def _subject_fits_role(self) -> TokenRequest:
        self.subject = check_subject(self.role, self.subject)
        return self


# --- responses -----------------------------------------------------------------------------


class HoldView(BaseModel):
    hold_id: UUID
    amount: int
    payee_id: UUID
    expires_at: datetime
    reference: str


class WalletView(BaseModel):
    wallet_id: UUID
    kind: str
    label: str | None
    available: int
    held: int
    holds: list[HoldView]


class BudgetView(BaseModel):
    account_id: UUID
    programme: str
    label: str | None
    available: int
    held: int


class TokenView(BaseModel):
    token_id: UUID
    name: str
    role: str
    subject: str | None
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedTokenView(TokenView):
    token: str | None = Field(
        description="The token itself: shown once. Null when the answer is a replay."
    )
