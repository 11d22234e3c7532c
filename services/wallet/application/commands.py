"""Commands the wallet decides. Imperative names; typed values only (integer coins, aware times).

Every command carries the caller's idempotency key. ``caller`` scopes the key (two shops may
both use key "1"); ``at`` is the business time the wallet stamps when the command arrives and
is not part of the request, so a retry with the same body matches the first request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import orjson

from ..domain.instruments import Authorisation
from ..domain.signup_origin import SignupOrigin


@dataclass(frozen=True, kw_only=True)
class Command:
    name: ClassVar[str]
    #: Fields that do not identify the request (excluded from its hash).
    unhashed: ClassVar[frozenset[str]] = frozenset({"idempotency_key", "caller", "at"})

    idempotency_key: str
    caller: str
    at: datetime

    def request_hash(self) -> str:
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.unhashed}
        raw = orjson.dumps([self.name, body], option=orjson.OPT_SORT_KEYS, default=str)
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, kw_only=True)
class MintGenesis(Command):
    """Mint the fixed supply to the issuer and hand it all to the municipality. Once ever."""

    name: ClassVar[str] = "mint_genesis"


@dataclass(frozen=True, kw_only=True)
class OpenBudget(Command):
    name: ClassVar[str] = "open_budget"
    programme: str
    label: str


@dataclass(frozen=True, kw_only=True)
class AllocateBudget(Command):
    name: ClassVar[str] = "allocate_budget"
    programme: str
    amount: int
    memo: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReturnBudget(Command):
    name: ClassVar[str] = "return_budget"
    programme: str
    amount: int
    memo: str | None = None


@dataclass(frozen=True, kw_only=True)
class OpenPayee(Command):
    """Open the wallet account of a shop or the bus operator."""

    name: ClassVar[str] = "open_payee"
    kind: str
    external_ref: str
    label: str


@dataclass(frozen=True, kw_only=True)
class RegisterResident(Command):
    """Open one wallet per person. Personal data arrives already sealed; the blind indexes
    make a second registration with the same national ID or phone findable. No phone (a
    resident registered at a municipal counter): the wallet may link one later."""

    name: ClassVar[str] = "register_resident"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {
        "sealed_personal_data", "key_id", "wallet_id", "national_id_claim", "phone_claim",
        "origin",
    }  # fmt: skip
    national_id_index: str
    phone_index: str | None
    #: Keyed by the resident's data key (adapters/personal_data.py): gone with it.
    personal_data_digest: str
    sealed_personal_data: str = field(repr=False)
    key_id: str
    #: The wallet the edge reserved a data key for (None: a random one, in-process callers).
    wallet_id: UUID | None = None
    #: The claims' ids from the mutable blind-index table (None: derived from the index, the
    #: layout before erasure existed).
    national_id_claim: UUID | None = None
    phone_claim: UUID | None = None
    #: Where an app sign-up came from (day-keyed pseudonyms, published on AccountOpened);
    #: not part of the request: a retry from another network is the same registration.
    origin: SignupOrigin | None = None


@dataclass(frozen=True, kw_only=True)
class Grant(Command):
    name: ClassVar[str] = "grant"
    programme: str
    wallet_id: UUID
    amount: int
    reason: str
    reference: str


@dataclass(frozen=True, kw_only=True)
class Spend(Command):
    """Pay a payee from a resident's wallet. Through the API the ``authorisation`` names the
    wallet and is consumed with the payment (see consent.py); ``wallet_id``, if also given,
    must be the authorisation's. Without one, only in-process callers (tests, benchmarks)."""

    name: ClassVar[str] = "spend"
    #: The edge's PIN check (a slow hash, kept out of the writer): not part of the request.
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {"pin_verified"}
    wallet_id: UUID | None
    payee_id: UUID
    amount: int
    reference: str
    authorisation: Authorisation | None = None
    pin_verified: bool = False


@dataclass(frozen=True, kw_only=True)
class PlaceHold(Command):
    """Set coins aside for a payee; authorised like a :class:`Spend`."""

    name: ClassVar[str] = "place_hold"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {"pin_verified"}
    wallet_id: UUID | None
    payee_id: UUID
    amount: int
    reference: str
    ttl_seconds: int
    authorisation: Authorisation | None = None
    pin_verified: bool = False


@dataclass(frozen=True, kw_only=True)
class CaptureHold(Command):
    name: ClassVar[str] = "capture_hold"
    wallet_id: UUID
    hold_id: UUID
    payee_id: UUID
    amount: int | None = None


@dataclass(frozen=True, kw_only=True)
class ReleaseHold(Command):
    name: ClassVar[str] = "release_hold"
    wallet_id: UUID
    hold_id: UUID
    payee_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ExpireHold(Command):
    name: ClassVar[str] = "expire_hold"
    wallet_id: UUID
    hold_id: UUID


@dataclass(frozen=True)
class Outcome:
    """The answer to a command: an HTTP-like status and a JSON-ready body. ``replayed`` is
    true when the answer is the stored first answer to the same idempotency key."""

    status: int
    body: dict[str, Any]
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.status < 400
