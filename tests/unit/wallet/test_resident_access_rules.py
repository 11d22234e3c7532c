"""The rules of one-time codes and refresh tokens, on their own (no stores, no HTTP)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from services.wallet.domain.resident_access import (
    REPLAY_GRACE,
    Challenge,
    Purpose,
    RefreshGrant,
    RefreshVerdict,
    Verdict,
    attempt,
    rotate,
)

pytestmark = pytest.mark.unit

T0 = datetime.fromisoformat("2026-03-02T09:00:00+07:00")
TTL = timedelta(days=30)


def challenge(**kw: object) -> Challenge:
    base = Challenge(
        challenge_id=uuid4(), purpose=Purpose.SIGN_IN, phone_index="p", code_hash="right",
        created_at=T0, expires_at=T0 + timedelta(minutes=5), max_attempts=3,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_right_code_confirms_once() -> None:
    verdict, after = attempt(challenge(), "right", "key-1", T0)
    assert verdict is Verdict.CONFIRMED and after.confirmed_at == T0
    assert attempt(after, "right", "key-1", T0)[0] is Verdict.REPLAYED
    assert attempt(after, "right", "key-2", T0)[0] is Verdict.USED
    assert attempt(after, "wrong", "key-1", T0)[0] is Verdict.USED
    assert attempt(after, "right", "key-1", T0 + timedelta(minutes=5))[0] is Verdict.USED


def test_wrong_codes_count_until_the_challenge_is_dead() -> None:
    state = challenge()
    for left in (2, 1, 0):
        verdict, state = attempt(state, "wrong", "k", T0)
        assert verdict is Verdict.INCORRECT and state.attempts_left == left
    assert attempt(state, "right", "k", T0)[0] is Verdict.EXHAUSTED


def test_a_code_expires() -> None:
    late = T0 + timedelta(minutes=5)
    verdict, after = attempt(challenge(), "right", "k", late)
    assert verdict is Verdict.EXPIRED and after.attempts == 0


def grant(**kw: object) -> RefreshGrant:
    base = RefreshGrant("h1", uuid4(), uuid4(), T0, T0 + TTL)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_refresh_rotates_into_the_same_family() -> None:
    presented = grant()
    rotation = rotate(presented, None, new_hash="h2", key_hash="k", now=T0, ttl=TTL)
    assert rotation.verdict is RefreshVerdict.ROTATED
    assert rotation.issued is not None and rotation.issued.family_id == presented.family_id
    assert rotation.presented is not None and rotation.presented.replaced_by == "h2"


def test_a_rotated_token_again_revokes_the_family_unless_it_is_the_same_request() -> None:
    rotated = grant(rotated_at=T0, rotated_by="k", replaced_by="h2")
    successor = grant(token_hash="h2")

    replay = rotate(rotated, successor, new_hash="h3", key_hash="k", now=T0, ttl=TTL)
    other_key = rotate(rotated, successor, new_hash="h3", key_hash="x", now=T0, ttl=TTL)
    late = rotate(rotated, successor, new_hash="h3", key_hash="k", now=T0 + REPLAY_GRACE, ttl=TTL)
    used_on = rotate(
        rotated, replace(successor, rotated_at=T0), new_hash="h3", key_hash="k", now=T0, ttl=TTL
    )

    assert replay.verdict is RefreshVerdict.REPLAYED and replay.revoke_token == "h2"
    for reuse in (other_key, late, used_on):
        assert reuse.verdict is RefreshVerdict.REUSED
        assert reuse.revoke_family == rotated.family_id and reuse.issued is None


@pytest.mark.parametrize(
    "presented", [None, grant(revoked=True), grant(expires_at=T0)], ids=["none", "revoked", "old"]
)
def test_an_invalid_token_rotates_nothing(presented: RefreshGrant | None) -> None:
    rotation = rotate(presented, None, new_hash="h2", key_hash="k", now=T0, ttl=TTL)
    assert rotation.verdict is RefreshVerdict.INVALID and rotation.issued is None
