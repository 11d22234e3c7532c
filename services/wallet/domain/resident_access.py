"""Residents' own access to their wallet: one-time codes sent to a phone, and the refresh
tokens of a signed-in resident. Pure rules, no I/O: the stores lock a record, ask these
functions what to do with it, and write back what they answer.

A code is never kept: a challenge holds its keyed hash (HMAC with a wallet secret), so the
six digits cannot be recovered from a leaked table by trying all million of them. A refresh
token is high-entropy, so a plain hash suffices. Refresh tokens rotate: each use answers a new
one in the same family, and presenting a rotated one again revokes the whole family (whoever
holds a copy is cut off, the resident signs in again).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID


class Purpose(StrEnum):
    """What a one-time code confirms."""

    SIGNUP = "signup"
    SIGN_IN = "sign_in"
    PHONE_LINK = "phone_link"


@dataclass(frozen=True)
class Challenge:
    """A one-time code sent to a phone, awaiting its confirmation."""

    challenge_id: UUID
    purpose: Purpose
    #: Blind index of the phone the code went to (never the number itself).
    phone_index: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    max_attempts: int
    #: Sign-in and phone link: the wallet (None for a sign-in on an unknown phone, whose
    #: challenge looks the same but matches no code, as none was sent).
    wallet_id: UUID | None = None
    #: Signup and phone link: what the confirmation needs, sealed by the personal-data vault.
    sealed_request: str | None = None
    attempts: int = 0
    confirmed_at: datetime | None = None
    #: Hash of the Idempotency-Key of the confirmation (a retry with it is answered again).
    confirmed_by: str | None = None

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.attempts)


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    #: The same confirmation again (same code, same Idempotency-Key, before expiry).
    REPLAYED = "replayed"
    INCORRECT = "code_incorrect"
    EXPIRED = "code_expired"
    USED = "code_used"
    EXHAUSTED = "code_attempts_exhausted"


def attempt(
    challenge: Challenge, code_hash: str, key_hash: str, now: datetime
) -> tuple[Verdict, Challenge]:
    """Judge a presented code: the verdict, and the challenge as it must be stored after."""
    matches = hmac.compare_digest(challenge.code_hash, code_hash)
    if challenge.confirmed_at is not None:
        same_request = matches and challenge.confirmed_by == key_hash
        if same_request and now < challenge.expires_at:
            return Verdict.REPLAYED, challenge
        return Verdict.USED, challenge
    if now >= challenge.expires_at:
        return Verdict.EXPIRED, challenge
    if challenge.attempts >= challenge.max_attempts:
        return Verdict.EXHAUSTED, challenge
    if not matches:
        return Verdict.INCORRECT, replace(challenge, attempts=challenge.attempts + 1)
    confirmed = replace(
        challenge, attempts=challenge.attempts + 1, confirmed_at=now, confirmed_by=key_hash
    )
    return Verdict.CONFIRMED, confirmed


# --- refresh tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshGrant:
    """One refresh token of a family (its hash only)."""

    token_hash: str
    family_id: UUID
    wallet_id: UUID
    issued_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    #: Hash of the Idempotency-Key that rotated it, and the hash of the token that replaced it.
    rotated_by: str | None = None
    replaced_by: str | None = None
    revoked: bool = False


class RefreshVerdict(StrEnum):
    ROTATED = "rotated"
    #: The same refresh again (same Idempotency-Key, shortly after, its answer unused): a new
    #: token replaces the one answered first, which is revoked.
    REPLAYED = "replayed"
    INVALID = "refresh_token_invalid"
    #: A rotated token presented again: the family is revoked.
    REUSED = "refresh_token_reused"
    SIGNED_OUT = "signed_out"


@dataclass(frozen=True)
class Rotation:
    """What a refresh decided: the verdict and the records to write."""

    verdict: RefreshVerdict
    #: The presented grant, as it must be stored (rotated), and the new grant to add.
    presented: RefreshGrant | None = None
    issued: RefreshGrant | None = None
    #: Revoke every grant of this family.
    revoke_family: UUID | None = None
    #: Revoke this one grant (the answer a replay supersedes).
    revoke_token: str | None = None


#: How long after a rotation the same request may be answered again.
REPLAY_GRACE = timedelta(seconds=60)


def rotate(
    presented: RefreshGrant | None,
    successor: RefreshGrant | None,
    *,
    new_hash: str,
    key_hash: str,
    now: datetime,
    ttl: timedelta,
) -> Rotation:
    """Judge a presented refresh token (``successor``: the grant that replaced it, if any)."""
    if presented is None or presented.revoked or now >= presented.expires_at:
        return Rotation(RefreshVerdict.INVALID)
    issued = RefreshGrant(
        token_hash=new_hash,
        family_id=presented.family_id,
        wallet_id=presented.wallet_id,
        issued_at=now,
        expires_at=now + ttl,
    )
    rotated = replace(presented, rotated_at=now, rotated_by=key_hash, replaced_by=new_hash)
    if presented.rotated_at is None:
        return Rotation(RefreshVerdict.ROTATED, presented=rotated, issued=issued)
    replay = (
        presented.rotated_by == key_hash
        and now < presented.rotated_at + REPLAY_GRACE
        and successor is not None
        and successor.rotated_at is None
        and not successor.revoked
    )
    if replay:
        assert successor is not None
        return Rotation(
            RefreshVerdict.REPLAYED,
            presented=rotated,
            issued=issued,
            revoke_token=successor.token_hash,
        )
    return Rotation(RefreshVerdict.REUSED, revoke_family=presented.family_id)


def sign_out(presented: RefreshGrant | None) -> Rotation:
    """The resident signs out: the presented token's family is revoked (whatever its state)."""
    if presented is None or presented.revoked:
        return Rotation(RefreshVerdict.INVALID)
    return Rotation(RefreshVerdict.SIGNED_OUT, revoke_family=presented.family_id)
