"""An in-memory wallet that keeps the contract transit relies on: no overdraft, one answer
per idempotency key, a pass resolves to its wallet, loss budgets can run out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID, uuid4, uuid5

from services.transit.application.ports import (
    FareAsk,
    Moved,
    Refused,
    WalletAnswer,
    WalletUnreachable,
)

NS = UUID("3f0c6b1e-0000-5000-8000-000000000001")


@dataclass
class FakeWallet:
    balances: Counter[UUID] = field(default_factory=Counter)
    passes: dict[str, UUID] = field(default_factory=dict)
    budgets: Counter[str] = field(default_factory=lambda: Counter({"offline-loss": 1000}))
    answers: dict[str, WalletAnswer] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    #: The size of each ``spend_fares`` call.
    batches: list[int] = field(default_factory=list)
    resolvable: bool = True
    down: bool = False
    #: Awaited inside each spend, so tests can hold spends in flight at once.
    gate: asyncio.Event | None = None
    #: Raised after a spend took effect (the wallet answered, transit never heard).
    crash_after_spend: bool = False

    def resident(self, coins: int, pass_token: str) -> UUID:
        wallet_id = uuid4()
        self.balances[wallet_id] = coins
        self.passes[pass_token] = wallet_id
        return wallet_id

    async def open_operator(self, external_ref: str, label: str) -> UUID:
        return uuid5(NS, f"operator:{external_ref}")

    def _once(self, key: str, decide: object) -> WalletAnswer:
        if key not in self.answers:
            self.answers[key] = decide()  # type: ignore[operator]
        return self.answers[key]

    async def spend_fare(
        self, *, operator_id: UUID, amount: int, reference: str, pass_token: str, key: str
    ) -> WalletAnswer:
        self.calls.append(("spend", key))
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise WalletUnreachable("down")

        def decide() -> WalletAnswer:
            wallet_id = self.passes.get(pass_token)
            if wallet_id is None:
                return Refused("transit_pass_invalid")
            if self.balances[wallet_id] < amount:
                return Refused("insufficient_funds")
            self.balances[wallet_id] -= amount
            self.balances[operator_id] += amount
            return Moved(uuid4(), wallet_id)

        answer = self._once(key, decide)
        if self.crash_after_spend:
            raise WalletUnreachable("answered, but the answer was lost")
        return answer

    async def spend_fares(
        self, *, operator_id: UUID, fares: Sequence[FareAsk]
    ) -> list[WalletAnswer | None]:
        """Each fare as its own spend (at once, as the wallet's batch decides them)."""
        self.batches.append(len(fares))

        async def one(fare: FareAsk) -> WalletAnswer | None:
            try:
                return await self.spend_fare(operator_id=operator_id, amount=fare.amount,
                    reference=fare.reference, pass_token=fare.pass_token, key=fare.key)  # fmt: skip
            except WalletUnreachable:
                return None

        return list(await asyncio.gather(*(one(fare) for fare in fares)))

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
        self.calls.append(("shortfall", key))

        def decide() -> WalletAnswer:
            if self.budgets[programme] < amount:
                return Refused("budget_exhausted")
            self.budgets[programme] -= amount
            self.balances[operator_id] += amount
            return Moved(uuid4(), wallet_id)

        return self._once(key, decide)

    async def resolve_pass(self, pass_token: str) -> UUID | None:
        if self.down:
            raise WalletUnreachable("down")
        return self.passes.get(pass_token) if self.resolvable else None

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
        def decide() -> WalletAnswer:
            if self.balances[operator_id] < amount:
                return Refused("insufficient_funds")
            self.balances[operator_id] -= amount
            self.budgets[programme] += amount
            return Moved(uuid4())

        return self._once(key, decide)
