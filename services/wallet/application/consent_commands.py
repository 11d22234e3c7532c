"""Commands that create and retire consent instruments (see domain/instruments.py).

The edge draws the secret (a code, a card number, a pass), hashes it with the wallet's keyed
hash and seals it for the answer; the ledger sees only the hash and the sealed copy. Those
are drawn afresh on every attempt, so they are not part of the request: a retry with the
same Idempotency-Key gets the first answer, the first secret among it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

from .commands import Command

#: What a fresh secret brings along, excluded from the request's hash.
_DRAWN = frozenset({"instrument_id", "sealed_secret"})


@dataclass(frozen=True, kw_only=True)
class IssueShortCode(Command):
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | _DRAWN
    purpose: ClassVar[str]
    wallet_id: UUID
    ttl_seconds: int
    instrument_id: UUID
    sealed_secret: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class IssuePaymentCode(IssueShortCode):
    """A single-use code that pays once from the wallet, for about two minutes."""

    name: ClassVar[str] = "issue_payment_code"
    purpose: ClassVar[str] = "pay"


@dataclass(frozen=True, kw_only=True)
class IssueReceiveCode(IssueShortCode):
    """A short-lived code that names the wallet to pay into."""

    name: ClassVar[str] = "issue_receive_code"
    purpose: ClassVar[str] = "receive"


@dataclass(frozen=True, kw_only=True)
class LinkTransitPass(Command):
    name: ClassVar[str] = "link_transit_pass"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | _DRAWN
    wallet_id: UUID
    instrument_id: UUID
    sealed_secret: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class UnlinkTransitPass(Command):
    name: ClassVar[str] = "unlink_transit_pass"
    wallet_id: UUID
    pass_id: UUID


@dataclass(frozen=True, kw_only=True)
class IssueCard(Command):
    """Print a card for a wallet. ``pin_fingerprint`` (a keyed hash of the PIN) tells one
    request from another; the salted slow hash is drawn afresh, so it is not hashed."""

    name: ClassVar[str] = "issue_card"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | _DRAWN | {"pin_hash", "pin_salt"}
    wallet_id: UUID
    pin_fingerprint: str = field(repr=False)
    instrument_id: UUID
    sealed_secret: str = field(repr=False)
    pin_hash: str = field(repr=False)
    pin_salt: str = field(repr=False)
