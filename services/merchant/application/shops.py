"""Enrolling, suspending and reinstating shops, and changing their rules. Each command's
first answer is saved as a receipt in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from kgo_runtime.clock import Clock

from ..domain import ids
from ..domain.errors import InProgress, ShopNotFound
from ..domain.receipt import CommandReceipt
from ..domain.shops import Shop, ShopFacts, ShopRules
from .answers import Answer, shop_body
from .ports import ContactBook, WalletPort
from .store import Conflict, Store, request_hash

#: Decides a command: its status, its body, the aggregates to save with the receipt.
Decide = Callable[[], Awaitable[tuple[int, dict[str, Any], list[Aggregate]]]]


class Shops:
    def __init__(
        self, store: Store, wallet: WalletPort, contacts: ContactBook, clock: Clock
    ) -> None:
        self._store, self._wallet, self._contacts, self._clock = store, wallet, contacts, clock

    async def _once(
        self, caller: str, key: str, command: str, fields: dict[str, Any], decide: Decide
    ) -> Answer:
        receipt_id = ids.receipt_id(caller, key)
        digest = request_hash(command, fields)
        for _ in range(3):
            receipt = await self._store.get(receipt_id, CommandReceipt)
            if receipt is not None:
                status, body = receipt.replay_for(command, digest)
                return Answer(status, body, replayed=True)
            status, body, changed = await decide()
            receipt = CommandReceipt.record(
                receipt_id, command=command, request_hash=digest, status=status, answer=body,
                at=self._clock.now(),
            )  # fmt: skip
            try:
                await self._store.save(*changed, receipt)
            except Conflict:
                continue
            return Answer(status, body)
        raise InProgress("this command is being decided; retry with the same key")

    async def enrol(
        self, caller: str, key: str, facts: ShopFacts, rules: ShopRules, contact: dict[str, str]
    ) -> Answer:
        shop_id = ids.shop_id(caller, key)
        fields = {"facts": facts.__dict__, "rules": rules.as_fields(), "contact": contact}

        async def decide() -> tuple[int, dict[str, Any], list[Aggregate]]:
            payee = await self._wallet.open_payee(
                shop_id, facts.name, key=ids.wallet_key(shop_id, "payee")
            )
            await self._contacts.put(shop_id, contact)
            shop = Shop.enrol(shop_id, facts, rules, payee=payee, at=self._clock.now())
            return 201, shop_body(shop), [shop]

        return await self._once(caller, key, "enrol", fields, decide)

    async def _change(
        self, caller: str, key: str, command: str, shop_id: UUID, fields: dict[str, Any],
        change: Callable[[Shop], None],
    ) -> Answer:  # fmt: skip
        async def decide() -> tuple[int, dict[str, Any], list[Aggregate]]:
            shop = await self.shop(shop_id)
            change(shop)
            return 200, shop_body(shop), [shop]

        return await self._once(caller, key, command, {"shop": shop_id, **fields}, decide)

    async def suspend(self, caller: str, key: str, shop_id: UUID, reason: str) -> Answer:
        return await self._change(
            caller, key, "suspend", shop_id, {"reason": reason},
            lambda shop: shop.suspend(reason, at=self._clock.now()),
        )  # fmt: skip

    async def reinstate(self, caller: str, key: str, shop_id: UUID) -> Answer:
        return await self._change(
            caller, key, "reinstate", shop_id, {},
            lambda shop: shop.reinstate(at=self._clock.now()),
        )  # fmt: skip

    async def change_rules(self, caller: str, key: str, shop_id: UUID, rules: ShopRules) -> Answer:
        return await self._change(
            caller, key, "rules", shop_id, rules.as_fields(),
            lambda shop: shop.change_rules(rules, at=self._clock.now()),
        )  # fmt: skip

    async def shop(self, shop_id: UUID) -> Shop:
        shop = await self._store.get(shop_id, Shop)
        if shop is None:
            raise ShopNotFound(f"no shop {shop_id}")
        return shop

    async def contact(self, shop_id: UUID) -> dict[str, str] | None:
        await self.shop(shop_id)
        return await self._contacts.get(shop_id)
