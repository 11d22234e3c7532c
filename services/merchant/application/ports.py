"""What the merchant application needs from outside: the wallet, the till guess limiter, a
clock. Adapters implement them; unit tests use the in-memory fakes in ``adapters``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from ..domain.authorisation import Authorisation


class WalletRefused(Exception):
    """The wallet said no, for good: ``code`` is its stable reason (``payment_code_invalid``,
    ``pin_incorrect`` with ``attempts_left``, ``insufficient_funds``...)."""

    def __init__(
        self, code: str, detail: str = "", status: int = 409, attempts_left: int | None = None
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.status = code, detail, status
        self.attempts_left = attempts_left


class WalletDown(Exception):
    """The wallet did not answer: nothing is known; retry later with the same keys."""


@dataclass(frozen=True)
class PlacedHold:
    hold_id: UUID
    wallet_id: UUID
    expires_at: datetime | None


class WalletPort(Protocol):
    async def open_payee(self, shop_id: UUID, label: str, *, key: str) -> UUID: ...

    async def hold(
        self, *, payee: UUID, amount: int, reference: str, authorisation: Authorisation,
        wallet_id: UUID | None, key: str,
    ) -> PlacedHold: ...  # fmt: skip

    async def capture(
        self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, amount: int, key: str
    ) -> None: ...

    async def release(self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, key: str) -> None: ...

    async def refund(
        self, *, payee: UUID, wallet_id: UUID, amount: int, reference: str, key: str
    ) -> UUID: ...

    async def reward(
        self, *, wallet_id: UUID, amount: int, reference: str, payee: UUID | None,
        programme: str | None, key: str,
    ) -> UUID: ...  # fmt: skip

    async def settle(
        self, *, payee: UUID, amount: int, programme: str, baht_satang: int,
        payment_reference: str, key: str,
    ) -> UUID: ...  # fmt: skip

    async def resolve_receive_code(self, code: str) -> UUID: ...


class GuessLimiter(Protocol):
    """Counts a till's wrong payment codes, card numbers and PINs; a till that guesses too
    often is locked out."""

    async def retry_after(self, till_id: UUID) -> float | None:
        """Seconds until the till may try again, or None if it is not locked."""
        ...

    async def wrong_code(self, till_id: UUID) -> None: ...


class Fingerprint(Protocol):
    """A keyed hash (HMAC) of secrets the merchant must tell apart but never store: a card
    number and its PIN in a request's idempotency hash."""

    def __call__(self, *parts: str) -> str: ...


class Crash(Protocol):
    """A fault-injection hook (tests only): ``point(name)`` may end the process there."""

    def point(self, name: str) -> None: ...


class NoCrash:
    def point(self, name: str) -> None:
        return None


class ContactBook(Protocol):
    """A shop's contact (person, phone, e-mail): personal data, kept out of every event."""

    async def put(self, shop_id: UUID, contact: dict[str, str]) -> None: ...

    async def get(self, shop_id: UUID) -> dict[str, str] | None: ...
