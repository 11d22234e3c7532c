"""What the transit application needs from the outside: the wallet (coins), the clock, the
keyed digest of a pass, and where ridership statements are kept. Adapters implement these;
unit tests use fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True)
class Moved:
    """The wallet moved the coins: ``wallet_id`` is the rider (for a spend or a shortfall)."""

    movement_id: UUID
    wallet_id: UUID | None = None
    #: Coins the loss budget paid instead of the rider (an offline shortfall).
    shortfall: int = 0


@dataclass(frozen=True)
class Refused:
    """The wallet refused for good, with its stable code (``insufficient_funds``...)."""

    code: str
    detail: str = ""


WalletAnswer = Moved | Refused


@dataclass(frozen=True)
class FareAsk:
    """One fare of :meth:`WalletPort.spend_fares`: the arguments of one ``spend_fare``."""

    amount: int
    reference: str
    pass_token: str
    key: str


class WalletUnreachable(Exception):
    """The wallet did not answer; the same call with the same key may be tried again."""


class WalletPort(Protocol):
    async def open_operator(self, external_ref: str, label: str) -> UUID:
        """The bus operator's payee account (opened once; later calls find it)."""
        ...

    async def spend_fare(
        self, *, operator_id: UUID, amount: int, reference: str, pass_token: str, key: str
    ) -> WalletAnswer:
        """Coins from the rider whose pass this is, to the operator."""
        ...

    async def spend_fares(
        self, *, operator_id: UUID, fares: Sequence[FareAsk]
    ) -> list[WalletAnswer | None]:
        """Many fares in one call, each exactly its ``spend_fare``, answered in order; None:
        that fare was not answered (ask again with the same key)."""
        ...

    async def cover_shortfall(
        self,
        *,
        programme: str,
        operator_id: UUID,
        wallet_id: UUID,
        amount: int,
        reference: str,
        key: str,
    ) -> WalletAnswer:
        """Coins from a programme loss budget to the operator, for a rider's offline ride."""
        ...

    async def resolve_pass(self, pass_token: str) -> UUID | None:
        """The wallet a pass is linked to, or None (unknown pass, or no way to ask)."""
        ...

    async def settle(
        self,
        *,
        operator_id: UUID,
        amount: int,
        programme: str,
        baht_satang: int,
        payment_reference: str,
        key: str,
    ) -> WalletAnswer:
        """The operator's coins back to a programme budget for baht paid outside KGO."""
        ...


class PassDigester(Protocol):
    def __call__(self, pass_token: str) -> str:
        """A keyed, stable digest of a pass token (what transit stores and publishes)."""
        ...


class RidershipStatements(Protocol):
    """Ridership per route, Bangkok day and hour, as folded from transit's own log so far."""

    async def read(
        self, *, route_id: str | None = None, first: date | None = None, last: date | None = None
    ) -> list[dict[str, Any]]: ...

    async def pending_trips(self) -> int:
        """Trips whose coins were asked and whose answer is not recorded yet."""
        ...
