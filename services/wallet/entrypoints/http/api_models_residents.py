"""Request and response bodies of residents' self-service: signup, sign-in, sessions,
registration at a municipal counter and linking a phone later."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from .api_models import BirthDate, Body, Mobile, NationalId, Text

Code = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{6}$"), Field(description="The 6 digits sent by SMS")
]


class Consent(Body):
    """The resident's consent to the programme's terms (recorded, sealed, with its time)."""

    terms_version: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,40}$")]
    accepted: Literal[True]


class SignupRequest(Body):
    national_id: NationalId
    phone: Mobile
    consent: Consent


class AssistedSignupRequest(Body):
    """A resident registered by counter staff, who checked the ID card in person."""

    national_id: NationalId
    phone: Mobile | None = None
    full_name: Text | None = None
    birth_date: BirthDate | None = None
    consent: Consent

    def personal_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude={"consent"})


class SignInRequest(Body):
    phone: Mobile


class PhoneLinkRequest(Body):
    phone: Mobile


class CodeRequest(Body):
    code: Code


class RefreshRequest(Body):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


# --- responses -----------------------------------------------------------------------------


class SignupStarted(BaseModel):
    signup_id: UUID
    expires_at: datetime = Field(description="When the code sent to the phone expires")


class SignInStarted(BaseModel):
    challenge_id: UUID
    expires_at: datetime


class PhoneLinkStarted(BaseModel):
    link_id: UUID
    expires_at: datetime


class SessionView(BaseModel):
    """A resident's session: an access token bound to the wallet, and a refresh token (each
    shown once; the wallet keeps only the refresh token's hash)."""

    wallet_id: UUID
    token_type: Literal["Bearer"] = "Bearer"
    access_token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
