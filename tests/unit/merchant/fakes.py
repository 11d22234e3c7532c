"""In-memory stand-ins for the merchant's ports (the unit layer only): a wallet that keeps
the brief's contract (payment codes single-use and valid two minutes, holds, captures,
refunds, rewards, settlements, idempotency keys answering their first answer), a guess
limiter and a contact book."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from kgo_runtime.clock import ManualClock
from services.merchant.application.ports import PlacedHold, WalletDown, WalletRefused
from services.merchant.domain.authorisation import Authorisation, CardAndPin
from services.merchant.domain.ids import shop_payee_id


@dataclass
class _Code:
    wallet_id: UUID
    expires_at: datetime
    used: bool = False


@dataclass
class _Card:
    wallet_id: UUID
    pin: str
    failures: int = 0

    @property
    def locked(self) -> bool:
        return self.failures >= 5


@dataclass
class _Hold:
    wallet_id: UUID
    payee: UUID
    amount: int
    open: bool = True


@dataclass
class FakeWallet:
    clock: ManualClock
    balances: dict[UUID, int] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=lambda: {"shop-matching": 1_000})
    codes: dict[str, _Code] = field(default_factory=dict)
    cards: dict[str, _Card] = field(default_factory=dict)
    receive: dict[str, UUID] = field(default_factory=dict)
    holds: dict[UUID, _Hold] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False
    _numbers: Any = field(default_factory=lambda: itertools.count(10_000_000))

    # --- what the resident's app and the tests do -------------------------------------

    def resident(self, coins: int) -> UUID:
        wallet = uuid4()
        self.balances[wallet] = coins
        return wallet

    def payment_code(self, wallet: UUID) -> str:
        code = str(next(self._numbers))
        self.codes[code] = _Code(wallet, self.clock.now() + timedelta(seconds=120))
        return code

    def card(self, wallet: UUID, pin: str = "2580") -> str:
        number = f"48{next(self._numbers):014d}"
        self.cards[number] = _Card(wallet, pin)
        return number

    def receive_code(self, wallet: UUID) -> str:
        code = f"R{next(self._numbers)}"
        self.receive[code] = wallet
        return code

    def count(self, call: str) -> int:
        return sum(1 for c in self.calls if c == call)

    # --- the port ------------------------------------------------------------------------

    def _once(self, key: str, call: str, decide: Any) -> Any:
        if self.down:
            raise WalletDown("down")
        if key in self.answers:
            answer = self.answers[key]
            if isinstance(answer, Exception):
                raise answer
            return answer
        self.calls.append(call)
        try:
            answer = decide()
        except WalletRefused as refused:
            self.answers[key] = refused
            raise
        self.answers[key] = answer
        return answer

    def _move(self, source: UUID, target: UUID, amount: int) -> None:
        if self.balances.get(source, 0) < amount:
            raise WalletRefused("insufficient_funds", "not enough coins")
        self.balances[source] -= amount
        self.balances[target] = self.balances.get(target, 0) + amount

    async def open_payee(self, shop_id: UUID, label: str, *, key: str) -> UUID:
        payee = shop_payee_id(shop_id)

        def decide() -> UUID:
            self.balances.setdefault(payee, 0)
            return payee

        return self._once(key, "payee", decide)  # type: ignore[no-any-return]

    async def hold(
        self, *, payee: UUID, amount: int, reference: str, authorisation: Authorisation,
        wallet_id: UUID | None, key: str,
    ) -> PlacedHold:  # fmt: skip
        def decide() -> PlacedHold:
            if isinstance(authorisation, CardAndPin):
                payer = self._card_payer(authorisation, wallet_id)
            else:
                code = self.codes.get(authorisation.code)
                if code is None or wallet_id not in (None, code.wallet_id):
                    raise WalletRefused("payment_code_invalid", "no such code")
                if code.used:
                    raise WalletRefused("payment_code_used", "used")
                if self.clock.now() >= code.expires_at:
                    raise WalletRefused("payment_code_expired", "expired")
                payer = code.wallet_id
            if self.balances[payer] < amount:
                raise WalletRefused("insufficient_funds", "not enough coins")
            if not isinstance(authorisation, CardAndPin):
                code.used = True
            self.balances[payer] -= amount
            hold_id = uuid4()
            self.holds[hold_id] = _Hold(payer, payee, amount)
            return PlacedHold(hold_id, payer, self.clock.now() + timedelta(minutes=5))

        return self._once(key, "hold", decide)

    def _card_payer(self, auth: CardAndPin, wallet_id: UUID | None) -> UUID:
        card = self.cards.get(auth.card_number)
        if card is None or wallet_id not in (None, card.wallet_id):
            raise WalletRefused("card_invalid", "no such card")
        if card.locked:
            raise WalletRefused("card_locked", "locked", 423)
        if auth.pin != card.pin:
            card.failures += 1
            if card.locked:
                raise WalletRefused("card_locked", "wrong PIN; now locked", 423)
            raise WalletRefused("pin_incorrect", "wrong PIN", 409, 5 - card.failures)
        card.failures = 0
        return card.wallet_id

    async def capture(
        self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, amount: int, key: str
    ) -> None:
        def decide() -> None:
            hold = self.holds[hold_id]
            if not hold.open:
                raise WalletRefused("hold_not_found", "closed")
            hold.open = False
            self.balances[payee] = self.balances.get(payee, 0) + amount
            self.balances[wallet_id] += hold.amount - amount

        self._once(key, "capture", decide)

    async def release(self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, key: str) -> None:
        def decide() -> None:
            hold = self.holds[hold_id]
            hold.open = False
            self.balances[wallet_id] += hold.amount

        self._once(key, "release", decide)

    async def refund(
        self, *, payee: UUID, wallet_id: UUID, amount: int, reference: str, key: str
    ) -> UUID:
        def decide() -> UUID:
            self._move(payee, wallet_id, amount)
            return uuid4()

        return self._once(key, "refund", decide)  # type: ignore[no-any-return]

    async def reward(
        self, *, wallet_id: UUID, amount: int, reference: str, payee: UUID | None,
        programme: str | None, key: str,
    ) -> UUID:  # fmt: skip
        def decide() -> UUID:
            if payee is not None:
                self._move(payee, wallet_id, amount)
            else:
                assert programme is not None
                if self.budgets.get(programme, 0) < amount:
                    raise WalletRefused("budget_exhausted", "empty")
                self.budgets[programme] -= amount
                self.balances[wallet_id] += amount
            return uuid4()

        return self._once(key, "reward", decide)  # type: ignore[no-any-return]

    async def settle(
        self, *, payee: UUID, amount: int, programme: str, baht_satang: int,
        payment_reference: str, key: str,
    ) -> UUID:  # fmt: skip
        def decide() -> UUID:
            if self.balances.get(payee, 0) < amount:
                raise WalletRefused("insufficient_funds", "not enough coins")
            self.balances[payee] -= amount
            self.budgets[programme] = self.budgets.get(programme, 0) + amount
            return uuid4()

        return self._once(key, "settle", decide)  # type: ignore[no-any-return]

    async def resolve_receive_code(self, code: str) -> UUID:
        if code not in self.receive:
            raise WalletRefused("receive_code_invalid", "unknown", 404)
        return self.receive[code]


@dataclass
class MemoryLimiter:
    clock: ManualClock
    limit: int = 5
    window: timedelta = timedelta(minutes=15)
    wrong: dict[UUID, list[datetime]] = field(default_factory=dict)

    async def retry_after(self, till_id: UUID) -> float | None:
        since = self.clock.now() - self.window
        recent = [t for t in self.wrong.get(till_id, []) if t > since]
        if len(recent) < self.limit:
            return None
        return (recent[-self.limit] - since).total_seconds()

    async def wrong_code(self, till_id: UUID) -> None:
        self.wrong.setdefault(till_id, []).append(self.clock.now())


@dataclass
class MemoryContacts:
    contacts: dict[UUID, dict[str, str]] = field(default_factory=dict)

    async def put(self, shop_id: UUID, contact: dict[str, str]) -> None:
        self.contacts[shop_id] = contact

    async def get(self, shop_id: UUID) -> dict[str, str] | None:
        return self.contacts.get(shop_id)
