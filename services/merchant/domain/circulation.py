"""Coins a shop gives: rewards to a customer (from its own balance or a matching budget),
and settlements (coins back to a programme budget for baht paid outside KGO).

Both are started, then finished once the wallet answered (``Rewarded``/``Settled``) or
``Declined`` with the wallet's reason code; ids come from the caller's idempotency key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import MerchantError
from .redemption import DECLINED, STARTED

DONE = "done"
#: Where a reward's coins come from.
SHOP_BALANCE, MATCHING = "shop", "matching"


class _Operation(Aggregate):
    """What rewards and settlements share: a status and a decline."""

    status: str
    reason_code: str | None
    movement_id: UUID | None

    @property
    def finished(self) -> bool:
        return self.status != STARTED

    def _require_started(self) -> None:
        if self.status != STARTED:
            raise MerchantError(f"this {type(self).__name__} is {self.status}", code="wrong_state")


class Reward(_Operation):
    TOPIC = "kgo.merchant.Reward"

    class Created(Aggregate.Created):
        TOPIC = "kgo.merchant.Reward.Created"

    class Started(Aggregate.Created):
        TOPIC = "kgo.merchant.Reward.Started"
        shop_id: UUID
        payee_account_id: UUID
        wallet_id: UUID
        coins: int
        source: str
        programme: str | None
        request_hash: str
        occurred_at: datetime

    class Rewarded(Aggregate.Event):
        TOPIC = "kgo.merchant.Reward.Rewarded"
        movement_id: UUID
        shop_id: UUID
        wallet_id: UUID
        coins: int
        source: str
        programme: str | None
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.movement_id = DONE, self.movement_id

    class Declined(Aggregate.Event):
        TOPIC = "kgo.merchant.Reward.Declined"
        reason_code: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.reason_code = DECLINED, self.reason_code

    def __init__(
        self,
        shop_id: UUID,
        payee_account_id: UUID,
        wallet_id: UUID,
        coins: int,
        source: str,
        programme: str | None,
        request_hash: str,
        occurred_at: datetime,
    ) -> None:
        self.shop_id, self.payee_account_id, self.wallet_id = shop_id, payee_account_id, wallet_id
        self.coins, self.source, self.programme = coins, source, programme
        self.request_hash, self.started_at = request_hash, occurred_at
        self.status, self.reason_code, self.movement_id = STARTED, None, None

    @classmethod
    def start(cls, reward_id: UUID, **fields: Any) -> Reward:
        if fields["coins"] <= 0:
            raise MerchantError("a reward is a positive number of coins", code="invalid_amount")
        return cls._create(cls.Started, id=reward_id, **fields)

    def rewarded(self, movement_id: UUID, *, at: datetime) -> None:
        self._require_started()
        self.trigger_event(
            self.Rewarded, movement_id=movement_id, shop_id=self.shop_id,
            wallet_id=self.wallet_id, coins=self.coins, source=self.source,
            programme=self.programme, occurred_at=at,
        )  # fmt: skip

    def decline(self, code: str, *, at: datetime) -> None:
        self._require_started()
        self.trigger_event(self.Declined, reason_code=code, occurred_at=at)


class Settlement(_Operation):
    TOPIC = "kgo.merchant.Settlement"

    class Created(Aggregate.Created):
        TOPIC = "kgo.merchant.Settlement.Created"

    class Started(Aggregate.Created):
        TOPIC = "kgo.merchant.Settlement.Started"
        shop_id: UUID
        payee_account_id: UUID
        coins: int
        baht_satang: int
        payment_reference: str
        programme: str
        request_hash: str
        occurred_at: datetime

    class Settled(Aggregate.Event):
        TOPIC = "kgo.merchant.Settlement.Settled"
        movement_id: UUID
        shop_id: UUID
        coins: int
        baht_satang: int
        payment_reference: str
        programme: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.movement_id = DONE, self.movement_id

    class Declined(Aggregate.Event):
        TOPIC = "kgo.merchant.Settlement.Declined"
        reason_code: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.reason_code = DECLINED, self.reason_code

    def __init__(
        self,
        shop_id: UUID,
        payee_account_id: UUID,
        coins: int,
        baht_satang: int,
        payment_reference: str,
        programme: str,
        request_hash: str,
        occurred_at: datetime,
    ) -> None:
        self.shop_id, self.payee_account_id = shop_id, payee_account_id
        self.coins, self.baht_satang = coins, baht_satang
        self.payment_reference, self.programme = payment_reference, programme
        self.request_hash, self.started_at = request_hash, occurred_at
        self.status, self.reason_code, self.movement_id = STARTED, None, None

    @classmethod
    def start(cls, settlement_id: UUID, **fields: Any) -> Settlement:
        if fields["coins"] <= 0 or fields["baht_satang"] < 0:
            raise MerchantError("a settlement returns a positive number of coins",
                                code="invalid_amount")  # fmt: skip
        return cls._create(cls.Started, id=settlement_id, **fields)

    def settled(self, movement_id: UUID, *, at: datetime) -> None:
        self._require_started()
        self.trigger_event(
            self.Settled, movement_id=movement_id, shop_id=self.shop_id, coins=self.coins,
            baht_satang=self.baht_satang, payment_reference=self.payment_reference,
            programme=self.programme, occurred_at=at,
        )  # fmt: skip

    def decline(self, code: str, *, at: datetime) -> None:
        self._require_started()
        self.trigger_event(self.Declined, reason_code=code, occurred_at=at)


class ResidentDay(Aggregate):
    """The coins one resident redeemed on one Bangkok day, for the municipality's daily cap."""

    TOPIC = "kgo.merchant.ResidentDay"

    class Created(Aggregate.Created):
        TOPIC = "kgo.merchant.ResidentDay.Created"

    class Opened(Aggregate.Created):
        TOPIC = "kgo.merchant.ResidentDay.Opened"
        wallet_id: UUID
        day: str

    class Counted(Aggregate.Event):
        TOPIC = "kgo.merchant.ResidentDay.Counted"
        redemption_id: UUID
        coins: int

        def apply(self, aggregate: Any) -> None:
            aggregate.counted[self.redemption_id] = self.coins

    class Uncounted(Aggregate.Event):
        TOPIC = "kgo.merchant.ResidentDay.Uncounted"
        redemption_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.counted.pop(self.redemption_id, None)

    def __init__(self, wallet_id: UUID, day: str) -> None:
        self.wallet_id, self.day = wallet_id, day
        self.counted: dict[UUID, int] = {}

    @classmethod
    def open(cls, day_id: UUID, wallet_id: UUID, day: str) -> ResidentDay:
        return cls._create(cls.Opened, id=day_id, wallet_id=wallet_id, day=day)

    @property
    def coins(self) -> int:
        return sum(self.counted.values())

    def count(self, redemption_id: UUID, coins: int, *, cap: int) -> None:
        if redemption_id in self.counted:
            return
        if self.coins + coins > cap:
            raise MerchantError(
                f"a resident may redeem at most {cap} coins a day", code="daily_cap_reached"
            )
        self.trigger_event(self.Counted, redemption_id=redemption_id, coins=coins)

    def uncount(self, redemption_id: UUID) -> None:
        if redemption_id in self.counted:
            self.trigger_event(self.Uncounted, redemption_id=redemption_id)
