"""Coins a shop gives: rewards to a customer who shows a receive code, and settlements back
to a programme budget for the baht the programme pays outside KGO. Like redemptions, each is
saved as started before the wallet is called with a key derived from its id, so a retry or a
restart finishes it exactly once."""

from __future__ import annotations

from uuid import UUID

from kgo_runtime.clock import Clock

from ..domain import ids
from ..domain.circulation import MATCHING, SHOP_BALANCE, Reward, Settlement
from ..domain.errors import IdempotencyConflict, InProgress, MerchantError
from .answers import Answer, operation_answer
from .ports import WalletPort, WalletRefused
from .shops import Shops
from .store import Conflict, Store, request_hash


class Circulation:
    def __init__(self, store: Store, wallet: WalletPort, shops: Shops, clock: Clock) -> None:
        self._store, self._wallet, self._shops, self._clock = store, wallet, shops, clock

    async def reward(self, shop_id: UUID, key: str, *, receive_code: str, coins: int,
                     source: str = SHOP_BALANCE) -> Answer:  # fmt: skip
        rid = ids.reward_id(shop_id, key)
        digest = request_hash("reward", {"code": receive_code, "coins": coins, "source": source})
        found = await self._store.get(rid, Reward)
        if found is None:
            shop = await self._shops.shop(shop_id)
            shop.require_active()
            programme = shop.rules.matching_programme if source == MATCHING else None
            if source == MATCHING and programme is None:
                raise MerchantError("this shop has no matching budget", code="no_matching_budget")
            try:
                wallet_id = await self._wallet.resolve_receive_code(receive_code)
            except WalletRefused as refused:
                raise MerchantError(refused.detail or "unknown receive code",
                                    code=refused.code) from refused  # fmt: skip
            found = Reward.start(
                rid, shop_id=shop_id, payee_account_id=shop.payee_account_id,
                wallet_id=wallet_id, coins=coins, source=source, programme=programme,
                request_hash=digest, occurred_at=self._clock.now(),
            )  # fmt: skip
            try:
                await self._store.save(found)
            except Conflict:
                return await self.reward(shop_id, key, receive_code=receive_code, coins=coins,
                                         source=source)  # fmt: skip
            return await self._finish(found)
        if found.request_hash != digest:
            raise IdempotencyConflict("this key was used for another reward")
        return (await self._finish(found)).again()

    async def settle(self, shop_id: UUID, key: str, *, coins: int, baht_satang: int,
                     payment_reference: str, programme: str) -> Answer:  # fmt: skip
        sid = ids.settlement_id(shop_id, key)
        fields = {
            "coins": coins,
            "baht": baht_satang,
            "ref": payment_reference,
            "programme": programme,
        }
        digest = request_hash("settle", fields)
        found = await self._store.get(sid, Settlement)
        if found is None:
            shop = await self._shops.shop(shop_id)
            found = Settlement.start(
                sid, shop_id=shop_id, payee_account_id=shop.payee_account_id, coins=coins,
                baht_satang=baht_satang, payment_reference=payment_reference,
                programme=programme, request_hash=digest, occurred_at=self._clock.now(),
            )  # fmt: skip
            try:
                await self._store.save(found)
            except Conflict:
                return await self.settle(shop_id, key, coins=coins, baht_satang=baht_satang,
                                         payment_reference=payment_reference,
                                         programme=programme)  # fmt: skip
            return await self._finish(found)
        if found.request_hash != digest:
            raise IdempotencyConflict("this key was used for another settlement")
        return (await self._finish(found)).again()

    async def resume(self, operation_id: UUID) -> Answer | None:
        found: Reward | Settlement | None = await self._store.get(operation_id, Reward)
        if found is None:
            found = await self._store.get(operation_id, Settlement)
        return None if found is None else await self._finish(found)

    async def _finish(self, op: Reward | Settlement) -> Answer:
        for _ in range(5):
            if op.finished:
                return operation_answer(op)
            try:
                movement = await self._call_wallet(op)
            except WalletRefused as refused:
                op.decline(refused.code, at=self._clock.now())
            else:
                if isinstance(op, Reward):
                    op.rewarded(movement, at=self._clock.now())
                else:
                    op.settled(movement, at=self._clock.now())
            try:
                await self._store.save(op)
            except Conflict:
                reloaded = await self.resume_load(op)
                op = reloaded
                continue
            return operation_answer(op)
        raise InProgress("this operation is changing; retry")

    async def resume_load(self, op: Reward | Settlement) -> Reward | Settlement:
        reloaded = await self._store.get(op.id, type(op))
        assert reloaded is not None
        return reloaded

    async def _call_wallet(self, op: Reward | Settlement) -> UUID:
        key = ids.wallet_key(op.id, "wallet")
        if isinstance(op, Reward):
            return await self._wallet.reward(
                wallet_id=op.wallet_id, amount=op.coins, reference=str(op.id),
                payee=op.payee_account_id if op.source == SHOP_BALANCE else None,
                programme=op.programme, key=key,
            )  # fmt: skip
        return await self._wallet.settle(
            payee=op.payee_account_id, amount=op.coins, programme=op.programme,
            baht_satang=op.baht_satang, payment_reference=op.payment_reference, key=key,
        )  # fmt: skip
