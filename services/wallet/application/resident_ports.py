"""The ports of residents' self-service access (:mod:`.resident_access`): where codes go,
where challenges, rate counters and refresh tokens are kept, and what seals personal data.
Postgres adapters in ``adapters/``; fakes in the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from kgo_runtime.access import IssuedAccess, Role

from ..domain.resident_access import Challenge, Purpose, RefreshGrant, Rotation, Verdict
from .commands import Command, Outcome


class Notifier(Protocol):
    """Sends a one-time code to a phone (a file on a developer machine, an SMS gateway later)."""

    async def send_code(self, phone: str, code: str, purpose: Purpose, at: datetime) -> None: ...


class ChallengeStore(Protocol):
    async def find_request(self, request_key: str) -> tuple[Challenge, str] | None:
        """The challenge a request (its key) started, and the hash of that request's body."""
        ...

    async def add(self, challenge: Challenge, *, request_key: str, request_hash: str) -> bool:
        """Store a new challenge; False if ``request_key`` already started one."""
        ...

    async def decide(
        self,
        challenge_id: UUID,
        purpose: Purpose,
        judge: Callable[[Challenge], tuple[Verdict, Challenge]],
    ) -> tuple[Verdict, Challenge] | None:
        """Lock the challenge, judge it, store what the judge answers (None: no challenge)."""
        ...


class RateLimiter(Protocol):
    async def hit(
        self, bucket: str, *, limit: int, window: timedelta, now: datetime
    ) -> timedelta | None:
        """Count one hit; None if within ``limit`` per ``window``, else the time to wait."""
        ...


class RefreshStore(Protocol):
    async def add(self, grant: RefreshGrant) -> None: ...

    async def decide(
        self,
        token_hash: str,
        judge: Callable[[RefreshGrant | None, RefreshGrant | None], Rotation],
    ) -> Rotation:
        """Lock the presented grant (and its successor), judge, apply the rotation."""
        ...


class Vault(Protocol):
    @property
    def key_id(self) -> str: ...

    def blind_index(self, kind: str, value: str) -> str: ...

    def digest(self, data: dict[str, Any]) -> str: ...

    def seal(self, data: dict[str, Any]) -> str: ...

    def unseal(self, token: str) -> dict[str, Any]: ...


class Submitter(Protocol):
    async def submit(self, command: Command) -> Outcome: ...


class Issuer(Protocol):
    def issue(self, role: Role, name: str, subject: str | None, ttl: timedelta) -> IssuedAccess: ...
