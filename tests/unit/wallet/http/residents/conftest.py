"""Residents' self-service on the in-memory wallet: the real ResidentAccess on fake stores
(a dict per table), a notifier that keeps what it sends, and a ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_runtime.access import AccessSigner
from kgo_runtime.clock import ManualClock
from services.wallet.adapters.rate_limits import window_start
from services.wallet.application.resident_access import (
    AccessPolicy,
    Limit,
    ResidentAccess,
)
from services.wallet.domain.resident_access import (
    Challenge,
    Purpose,
    RefreshGrant,
    Rotation,
    Verdict,
)
from services.wallet.entrypoints.http.thai_ids import thai_mobile

T0 = datetime.fromisoformat("2026-03-02T09:00:00+07:00")
TERMS = "kgo-terms-2026-01"


@dataclass
class Sent:
    to: str
    code: str
    purpose: str
    at: datetime


@dataclass
class RecordingNotifier:
    sent: list[Sent] = field(default_factory=list)

    async def send_code(self, phone: str, code: str, purpose: Purpose, at: datetime) -> None:
        self.sent.append(Sent(phone, code, str(purpose), at))

    def last_code(self, phone: str) -> str:
        return [s for s in self.sent if s.to == thai_mobile(phone)][-1].code


class FakeChallenges:
    def __init__(self) -> None:
        self.rows: dict[UUID, Challenge] = {}
        self.requests: dict[str, tuple[UUID, str]] = {}
        self._lock = asyncio.Lock()

    async def find_request(self, request_key: str) -> tuple[Challenge, str] | None:
        found = self.requests.get(request_key)
        return None if found is None else (self.rows[found[0]], found[1])

    async def add(self, challenge: Challenge, *, request_key: str, request_hash: str) -> bool:
        if request_key in self.requests:
            return False
        self.rows[challenge.challenge_id] = challenge
        self.requests[request_key] = (challenge.challenge_id, request_hash)
        return True

    async def decide(
        self,
        challenge_id: UUID,
        purpose: Purpose,
        judge: Callable[[Challenge], tuple[Verdict, Challenge]],
    ) -> tuple[Verdict, Challenge] | None:
        async with self._lock:
            found = self.rows.get(challenge_id)
            if found is None or found.purpose is not purpose:
                return None
            verdict, after = judge(found)
            self.rows[challenge_id] = after
            return verdict, after


class FakeLimiter:
    def __init__(self) -> None:
        self.hits: dict[tuple[str, datetime], int] = {}

    async def hit(
        self, bucket: str, *, limit: int, window: timedelta, now: datetime
    ) -> timedelta | None:
        start = window_start(now, window)
        count = self.hits[bucket, start] = self.hits.get((bucket, start), 0) + 1
        return None if count <= limit else start + window - now


class FakeRefreshTokens:
    def __init__(self) -> None:
        self.rows: dict[str, RefreshGrant] = {}

    async def add(self, grant: RefreshGrant) -> None:
        self.rows[grant.token_hash] = grant

    async def decide(
        self,
        token_hash: str,
        judge: Callable[[RefreshGrant | None, RefreshGrant | None], Rotation],
    ) -> Rotation:
        presented = self.rows.get(token_hash)
        successor = None
        if presented is not None and presented.replaced_by is not None:
            successor = self.rows.get(presented.replaced_by)
        rotation = judge(presented, successor)
        if rotation.revoke_family is not None:
            for digest, grant in list(self.rows.items()):
                if grant.family_id == rotation.revoke_family:
                    self.rows[digest] = replace(grant, revoked=True)
        if rotation.revoke_token is not None:
            self.rows[rotation.revoke_token] = replace(
                self.rows[rotation.revoke_token], revoked=True
            )
        for grant in (rotation.presented, rotation.issued):
            if grant is not None:
                self.rows[grant.token_hash] = grant
        return rotation


@dataclass
class Residents:
    """The wallet's API with residents' self-service, and helpers to walk its flows."""

    api: Any
    clock: ManualClock
    notifier: RecordingNotifier
    challenges: FakeChallenges
    refresh_tokens: FakeRefreshTokens
    access: ResidentAccess

    async def post(
        self, path: str, body: Any, *, key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.api.post(path, body, headers or {}, key=key)

    async def start_signup(self, nid: str, phone: str, **kw: Any) -> httpx.Response:
        consent = {"terms_version": TERMS, "accepted": True}
        body = {"national_id": nid, "phone": phone, "consent": consent}
        return await self.post("/v1/signups", body, **kw)

    async def sign_up(self, nid: str, phone: str) -> dict[str, Any]:
        """A whole signup: start, read the code, confirm; the session answered."""
        started = await self.start_signup(nid, phone)
        assert started.status_code == 202, started.text
        signup_id = started.json()["signup_id"]
        code = self.notifier.last_code(phone)
        confirmed = await self.post(f"/v1/signups/{signup_id}/confirm", {"code": code})
        assert confirmed.status_code == 201, confirmed.text
        body: dict[str, Any] = confirmed.json()
        return body

    async def sign_in(self, phone: str) -> dict[str, Any]:
        started = await self.post("/v1/sessions", {"phone": phone})
        assert started.status_code == 202, started.text
        challenge_id = started.json()["challenge_id"]
        code = self.notifier.last_code(phone)
        confirmed = await self.post(f"/v1/sessions/{challenge_id}/confirm", {"code": code})
        assert confirmed.status_code == 200, confirmed.text
        body: dict[str, Any] = confirmed.json()
        return body


@pytest.fixture
def policy() -> AccessPolicy:
    return AccessPolicy(
        terms_version=TERMS,
        sends_per_phone=Limit(3, timedelta(minutes=15)),
        sends_per_address=Limit(20, timedelta(hours=1)),
        checks_per_address=Limit(30, timedelta(minutes=15)),
    )


@pytest.fixture
async def residents(api: Any, policy: AccessPolicy) -> Residents:
    clock = ManualClock(T0)
    container = api.container
    container.clock = clock
    container.access = AccessSigner(Ed25519PrivateKey.generate(), clock)
    notifier, challenges, refresh = RecordingNotifier(), FakeChallenges(), FakeRefreshTokens()
    access = ResidentAccess(
        policy=policy, clock=clock, secret=b"s" * 32, vault=container.vault,
        ledger=container.ledger, bus=container.bus, issuer=container.access,
        notifier=notifier, challenges=challenges, limiter=FakeLimiter(),
        refresh_tokens=refresh, data=container.resident_data,
    )  # fmt: skip
    container.residents = access
    return Residents(api, clock, notifier, challenges, refresh, access)


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


def new_key() -> str:
    return uuid4().hex
