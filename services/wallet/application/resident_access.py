"""Residents' self-service access: sign up with a national ID and a phone, sign in with the
phone, refresh a session, and link a phone to a wallet opened at a municipal counter.

Each flow starts a :class:`Challenge` (a six-digit code sent through the :class:`Notifier`)
and ends when the code comes back: the wallet is opened (the ledger's ``RegisterResident``)
or its phone linked (``LinkPhone``), and the resident gets a short-lived access token bound
to the wallet and a rotating refresh token.

Guessable things are limited: code sends per phone and per client address, code checks per
client address, attempts per challenge. Nothing here reveals whether a phone is registered:
a sign-in on an unknown phone is answered like any other, only no code is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from kgo_runtime.access import IssuedAccess, Role
from kgo_runtime.clock import Clock

from ..domain.identity import IdentityClaim
from ..domain.ids import claim_id
from ..domain.resident_access import (
    Challenge,
    Purpose,
    RefreshGrant,
    RefreshVerdict,
    Verdict,
    attempt,
    rotate,
    sign_out,
)
from ..domain.signup_origin import SignupOrigin, signup_origin
from .commands import Command
from .ledger import WalletLedger
from .resident_data import DataRefused, ResidentData
from .resident_handlers import PHONE_LINKED, phone_pending_claim
from .resident_ports import (
    ChallengeStore,
    Issuer,
    Notifier,
    RateLimiter,
    RefreshStore,
    Submitter,
    Vault,
)

REFRESH_PREFIX = "kgor_"
CODE_DIGITS = 6


# --- policy and answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    count: int
    window: timedelta


@dataclass(frozen=True)
class AccessPolicy:
    terms_version: str
    code_ttl: timedelta = timedelta(minutes=5)
    code_max_attempts: int = 5
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    sends_per_phone: Limit = Limit(3, timedelta(minutes=15))
    sends_per_address: Limit = Limit(20, timedelta(hours=1))
    checks_per_address: Limit = Limit(30, timedelta(minutes=15))


class AccessRefused(Exception):
    """A refused step, with a stable ``code`` (the HTTP edge maps it to a status)."""

    def __init__(
        self,
        code: str,
        reason: str,
        *,
        retry_after: int | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.code, self.reason, self.retry_after = code, reason, retry_after
        #: The status the ledger answered, when it decided (else the edge's table decides).
        self.status = status
        self.extra = extra or {}


@dataclass(frozen=True)
class Started:
    challenge_id: UUID
    expires_at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class Session:
    wallet_id: UUID
    access: IssuedAccess
    refresh_token: str = field(repr=False)
    refresh_expires_at: datetime
    replayed: bool = False


_REFUSALS = {
    Verdict.INCORRECT: "the code is not right",
    Verdict.EXPIRED: "the code has expired; ask for a new one",
    Verdict.USED: "the code was already used; ask for a new one",
    Verdict.EXHAUSTED: "too many wrong codes; ask for a new one",
}


@dataclass
class ResidentAccess:
    policy: AccessPolicy
    clock: Clock
    #: HMAC key of codes, request keys and client addresses (a wallet secret).
    secret: bytes = field(repr=False)
    vault: Vault
    ledger: WalletLedger
    bus: Submitter
    issuer: Issuer
    notifier: Notifier
    challenges: ChallengeStore
    limiter: RateLimiter
    refresh_tokens: RefreshStore
    #: Residents' personal data: their data keys, blind indexes, erasure (resident_data.py).
    data: ResidentData

    # --- starting a challenge -----------------------------------------------------------------

    async def begin_signup(
        self, *, national_id: str, phone: str, terms_version: str, client: str, key: str
    ) -> Started:
        if terms_version != self.policy.terms_version:
            raise AccessRefused(
                "terms_not_current",
                "accept the programme's current terms",
                extra={"terms_version": self.policy.terms_version},
            )
        request = {"national_id": national_id, "phone": phone, "terms_version": terms_version}

        def sealed(now: datetime, challenge_id: UUID) -> str:
            consent = {"terms_version": terms_version, "accepted_at": now.isoformat()}
            personal = {"national_id": national_id, "phone": phone}
            return self.vault.seal(
                {**personal, "consent": {**consent, "channel": "app"}},
                context=_challenge_context(challenge_id),
            )

        return await self._begin(Purpose.SIGNUP, phone, request, client, key, sealed=sealed)

    async def begin_sign_in(self, *, phone: str, client: str, key: str) -> Started:
        wallet_id = await self.data.wallet_of_phone(self.vault.blind_index("phone", phone))
        return await self._begin(
            Purpose.SIGN_IN, phone, {"phone": phone}, client, key, wallet_id=wallet_id,
            send=wallet_id is not None,
        )  # fmt: skip

    async def begin_phone_link(
        self, *, wallet_id: UUID, phone: str, client: str, key: str
    ) -> Started:
        if await asyncio.to_thread(self.ledger.account, wallet_id) is None:
            raise AccessRefused("wallet_not_found", f"no wallet {wallet_id}")
        if not await asyncio.to_thread(self._linkable, wallet_id):
            raise AccessRefused("phone_already_linked", "this wallet already has a phone number")
        request = {"wallet_id": str(wallet_id), "phone": phone}
        return await self._begin(
            Purpose.PHONE_LINK, phone, request, client, key, wallet_id=wallet_id,
            sealed=lambda _now, cid: self.vault.seal(
                {"phone": phone}, context=_challenge_context(cid)
            ),
        )  # fmt: skip

    async def _begin(
        self,
        purpose: Purpose,
        phone: str,
        request: dict[str, str],
        client: str,
        key: str,
        *,
        wallet_id: UUID | None = None,
        sealed: Callable[[datetime, UUID], str] | None = None,
        send: bool = True,
    ) -> Started:
        now = self.clock.now()
        phone_index = self.vault.blind_index("phone", phone)
        request_key = self._mac("request", purpose, phone_index, key)
        request_hash = self._mac("body", json.dumps(request, sort_keys=True))
        found = await self.challenges.find_request(request_key)
        if found is not None:
            return _replay(*found, request_hash)
        await self._limit(f"send:phone:{phone_index}", self.policy.sends_per_phone, now)
        await self._limit(f"send:addr:{self._address(client)}", self.policy.sends_per_address, now)
        challenge_id = uuid4()
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        challenge = Challenge(
            challenge_id=challenge_id,
            purpose=purpose,
            phone_index=phone_index,
            # No code is sent to an unknown phone: its challenge matches none.
            code_hash=self._code_hash(challenge_id, code) if send else secrets.token_hex(32),
            created_at=now,
            expires_at=now + self.policy.code_ttl,
            max_attempts=self.policy.code_max_attempts,
            wallet_id=wallet_id,
            sealed_request=sealed(now, challenge_id) if sealed else None,
        )
        if not await self.challenges.add(
            challenge, request_key=request_key, request_hash=request_hash
        ):
            found = await self.challenges.find_request(request_key)
            assert found is not None
            return _replay(*found, request_hash)
        if send:
            await self.notifier.send_code(phone, code, purpose, now)
        return Started(challenge_id, challenge.expires_at)

    # --- confirming one ---------------------------------------------------------------------

    async def confirm(
        self,
        purpose: Purpose,
        challenge_id: UUID,
        code: str,
        *,
        client: str,
        key: str,
        device: str | None = None,
    ) -> Session:
        """``client`` and ``device`` (the app's device id, if it sent one): where a sign-up
        comes from, published as day-keyed pseudonyms only (domain/signup_origin.py)."""
        now = self.clock.now()
        checks = self.policy.checks_per_address
        await self._limit(f"check:addr:{self._address(client)}", checks, now)
        code_hash, key_hash = self._code_hash(challenge_id, code), self._mac("key", key)
        decided = await self.challenges.decide(
            challenge_id, purpose, lambda found: attempt(found, code_hash, key_hash, now)
        )
        if decided is None:
            raise AccessRefused("challenge_not_found", f"no {purpose} {challenge_id}")
        verdict, challenge = decided
        if verdict not in (Verdict.CONFIRMED, Verdict.REPLAYED):
            extra = {"attempts_left": challenge.attempts_left}
            raise AccessRefused(verdict.value, _REFUSALS[verdict], extra=extra)
        origin = signup_origin(self.secret, client=client, device=device, at=now)
        wallet_id = await self._complete(challenge, now, origin)
        return await self._open_session(wallet_id, now, replayed=verdict is Verdict.REPLAYED)

    async def _complete(self, challenge: Challenge, now: datetime, origin: SignupOrigin) -> UUID:
        """What a confirmed challenge does: the wallet it opened, linked or signed in to."""
        stamp: dict[str, Any] = {"idempotency_key": str(challenge.challenge_id), "at": now}
        if challenge.purpose is Purpose.SIGN_IN:
            assert challenge.wallet_id is not None
            return challenge.wallet_id
        assert challenge.sealed_request is not None
        request = self.vault.unseal(
            challenge.sealed_request, context=_challenge_context(challenge.challenge_id)
        )
        command: Command
        try:
            if challenge.purpose is Purpose.SIGNUP:
                personal = {"national_id": request["national_id"], "phone": request["phone"]}
                terms = {"terms_version": request["consent"]["terms_version"]}
                command = await self.data.registration(
                    {"caller": "signup", **stamp},
                    national_id=request["national_id"], phone=request["phone"],
                    personal=personal, sealed_extra={"consent": request["consent"]},
                    digest_extra=terms,
                )  # fmt: skip
                command = replace(command, origin=origin)
            else:
                assert challenge.wallet_id is not None
                command = await self.data.phone_link(
                    {"caller": "phone-link", **stamp}, wallet_id=challenge.wallet_id,
                    phone_index=challenge.phone_index, phone=request["phone"],
                )  # fmt: skip
        except DataRefused as refused:
            raise AccessRefused(refused.code, refused.reason, status=refused.status) from None
        try:
            outcome = await self.bus.submit(command)
        except Exception as error:  # the store is down: the same confirmation again will do
            raise AccessRefused(
                "store_unavailable",
                "the wallet could not decide this now; retry with the same Idempotency-Key",
                retry_after=1,
                status=503,
            ) from error
        if not outcome.ok:
            code, reason = str(outcome.body["code"]), str(outcome.body["reason"])
            raise AccessRefused(code, reason, status=outcome.status)
        return UUID(str(outcome.body["wallet_id"]))

    # --- sessions -----------------------------------------------------------------------------

    async def _open_session(self, wallet_id: UUID, now: datetime, *, replayed: bool) -> Session:
        token = REFRESH_PREFIX + secrets.token_urlsafe(32)
        grant = RefreshGrant(
            token_hash=refresh_hash(token),
            family_id=uuid4(),
            wallet_id=wallet_id,
            issued_at=now,
            expires_at=now + self.policy.refresh_ttl,
        )
        await self.refresh_tokens.add(grant)
        return Session(wallet_id, self._access(wallet_id), token, grant.expires_at, replayed)

    async def refresh(self, token: str, *, key: str) -> Session:
        """A new access token and refresh token for a valid refresh token (which rotates)."""
        if not token.startswith(REFRESH_PREFIX) or len(token) > 100:
            raise AccessRefused(RefreshVerdict.INVALID.value, "the refresh token is not valid")
        now = self.clock.now()
        new_token = REFRESH_PREFIX + secrets.token_urlsafe(32)
        key_hash, ttl = self._mac("key", key), self.policy.refresh_ttl
        rotation = await self.refresh_tokens.decide(
            refresh_hash(token),
            lambda presented, successor: rotate(
                presented, successor, new_hash=refresh_hash(new_token), key_hash=key_hash,
                now=now, ttl=ttl,
            ),
        )  # fmt: skip
        if rotation.issued is None:
            detail = "the refresh token is not valid; sign in again"
            if rotation.verdict is RefreshVerdict.REUSED:
                detail = "the refresh token was already used: its session is revoked"
            raise AccessRefused(rotation.verdict.value, detail)
        wallet_id = rotation.issued.wallet_id
        replayed = rotation.verdict is RefreshVerdict.REPLAYED
        return Session(
            wallet_id, self._access(wallet_id), new_token, rotation.issued.expires_at, replayed
        )

    async def sign_out(self, token: str) -> None:
        """End the session of a refresh token (its whole family). Its access tokens live on
        until they expire (minutes): they are checked by signature alone, everywhere."""
        if token.startswith(REFRESH_PREFIX) and len(token) <= 100:
            await self.refresh_tokens.decide(refresh_hash(token), lambda p, _s: sign_out(p))

    def _access(self, wallet_id: UUID) -> IssuedAccess:
        return self.issuer.issue(Role.RESIDENT, "resident", str(wallet_id), self.policy.access_ttl)

    # --- helpers --------------------------------------------------------------------------------

    async def _limit(self, bucket: str, limit: Limit, now: datetime) -> None:
        wait = await self.limiter.hit(bucket, limit=limit.count, window=limit.window, now=now)
        if wait is not None:
            seconds = max(1, int(wait.total_seconds() + 0.999))
            raise AccessRefused(
                "too_many_requests",
                f"too many requests; retry in {seconds} s",
                retry_after=seconds,
            )

    def _mac(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _address(self, client: str) -> str:
        """A client address as the limiter keeps it (keyed, not the address itself)."""
        return self._mac("addr", client)[:32]

    def _code_hash(self, challenge_id: UUID, code: str) -> str:
        return self._mac("code", str(challenge_id), code)

    def _claim(self, claim: UUID) -> IdentityClaim | None:
        try:
            found: Any = self.ledger.repository.get(claim)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, IdentityClaim) else None

    def _linkable(self, wallet_id: UUID) -> bool:
        """Opened without a phone, none linked since (the ledger decides again on linking)."""
        pending = self._claim(phone_pending_claim(wallet_id)) is not None
        return pending and self._claim(claim_id(PHONE_LINKED, str(wallet_id))) is None


def _challenge_context(challenge_id: UUID) -> str:
    return f"challenge:{challenge_id}"


def refresh_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _replay(challenge: Challenge, stored_hash: str, request_hash: str) -> Started:
    if not hmac.compare_digest(stored_hash, request_hash):
        raise AccessRefused(
            "idempotency_key_reused", "this Idempotency-Key was used for another request"
        )
    return Started(challenge.challenge_id, challenge.expires_at, replayed=True)
