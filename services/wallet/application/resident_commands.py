"""Commands of residents' self-service (the rest of the wallet's commands: commands.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

from .commands import Command


@dataclass(frozen=True, kw_only=True)
class LinkPhone(Command):
    """Give a wallet opened without a phone (at a municipal counter) its phone number, once
    its holder proved the phone with a one-time code."""

    name: ClassVar[str] = "link_phone"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {
        "sealed_phone",
        "key_id",
        "phone_claim",
    }
    wallet_id: UUID
    phone_index: str
    sealed_phone: str = field(repr=False)
    key_id: str
    #: The phone claim's id from the blind-index table (None: derived from the index).
    phone_claim: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class EraseResident(Command):
    """Erase a resident (an access to erasure under the PDPA): the wallet is frozen (or its
    coins returned to the municipality) and marked erased; the edge then destroys the
    resident's data key and blind indexes."""

    name: ClassVar[str] = "erase_resident"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {"return_balance"}
    wallet_id: UUID
    reference: str
    reason: str
    #: WALLET_ERASURE_BALANCE=returned: the coins go back to the municipality.
    return_balance: bool = False


@dataclass(frozen=True, kw_only=True)
class RekeyResident(Command):
    """Move a wallet opened before per-resident data keys to the new layout (``kgo wallet
    rekey``): its legacy claims are superseded and, unless the resident was erased, claims of
    the new kind (ids from the blind-index table, sealed under the resident's data key) and a
    resident record take their place, in one transaction."""

    name: ClassVar[str] = "rekey_resident"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {
        "sealed_national_id",
        "sealed_phone",
        "key_id",
    }
    wallet_id: UUID
    legacy_claims: tuple[UUID, ...]
    national_id_claim: UUID | None = None
    sealed_national_id: str | None = field(default=None, repr=False)
    phone_claim: UUID | None = None
    sealed_phone: str | None = field(default=None, repr=False)
    key_id: str | None = None
