"""The ports of residents' self-service access (:mod:`.resident_access`): where codes go,
where challenges, rate counters and refresh tokens are kept, and what seals personal data.
Postgres adapters in ``adapters/``; fakes in the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

    def seal(self, data: dict[str, Any], *, context: str = "") -> str: ...

    def unseal(self, token: str, *, context: str = "") -> dict[str, Any]: ...

    def new_data_key(self, wallet_id: UUID) -> tuple[DataKey, str]: ...

    def unwrap(self, wallet_id: UUID, wrapped: str) -> DataKey: ...

    def rewrap(self, wallet_id: UUID, wrapped: str) -> str | None:
        """The data key wrapped under the current service key, if only a retiring one does."""
        ...

    def is_current(self, token: str, *, context: str = "") -> bool: ...


class DataKey(Protocol):
    """One resident's data key (``adapters/personal_data.py``)."""

    @property
    def wallet_id(self) -> UUID: ...

    def seal(self, field_name: str, data: dict[str, Any]) -> str: ...

    def unseal(self, field_name: str, token: str) -> dict[str, Any]: ...

    def digest(self, data: dict[str, Any]) -> str: ...


class Submitter(Protocol):
    async def submit(self, command: Command) -> Outcome: ...


class Issuer(Protocol):
    def issue(self, role: Role, name: str, subject: str | None, ttl: timedelta) -> IssuedAccess: ...


@dataclass(frozen=True)
class Erasure:
    """The accountability record of one erasure (kept in the wallet's mutable storage)."""

    wallet_id: UUID
    reason: str
    reference: str
    requested_by: str
    erased_at: datetime


class ResidentKeyStore(Protocol):
    """Residents' wrapped data keys and the blind-index table: the mutable storage that an
    erasure deletes (``adapters/resident_keys.py``)."""

    async def reserve(
        self, request_key: str, wallet_id: UUID, wrapped: str
    ) -> tuple[UUID, str | None]:
        """The wallet id and wrapped key a registration request reserved: these, the first
        time; the first ones again on a retry (None: that resident was erased since)."""
        ...

    async def key_of(self, wallet_id: UUID) -> str | None:
        """A wallet's wrapped data key; None if it has none (opened before them) or erased."""
        ...

    async def add_key(self, wallet_id: UUID, wrapped: str) -> str | None:
        """Give a wallet that has none a data key; the stored one (None if erased)."""
        ...

    async def claim(self, kind: str, blind_index: str) -> UUID | None:
        """The claim id of a blind index, made on first use; None if its person was erased
        and may not register again."""
        ...

    async def find_claim(self, blind_index: str) -> UUID | None: ...

    async def erase(self, erasure: Erasure, claims: list[UUID], *, keep_national_id: bool) -> None:
        """Destroy the wallet's data key and its claims' blind indexes, with what they touched
        (challenges, rate counters, sessions), and record the erasure; in one transaction."""
        ...

    async def erasure(self, wallet_id: UUID) -> Erasure | None: ...

    async def wrapped_keys(self, after: UUID | None, limit: int) -> list[tuple[UUID, str]]:
        """Live (not erased) wrapped keys, by wallet id, after ``after``: a page."""
        ...

    async def replace_key(self, wallet_id: UUID, old: str, new: str) -> bool:
        """Store ``new`` in place of ``old`` (False: it changed meanwhile, e.g. erased)."""
        ...
