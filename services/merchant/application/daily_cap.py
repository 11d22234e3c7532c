"""The municipality's cap on the coins one resident redeems per Bangkok day, counted on the
resident's day (``ResidentDay``) between the wallet's hold and its capture, and given back
when a counted redemption is declined or voided."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from kgo_runtime.clock import bangkok_day

from ..domain import ids
from ..domain.circulation import ResidentDay
from ..domain.errors import MerchantError
from ..domain.redemption import Redemption
from .store import Store


class DailyCap:
    def __init__(self, store: Store, cap: int | None) -> None:
        self._store, self._cap = store, cap

    async def count(
        self, r: Redemption, wallet_id: UUID, at: datetime
    ) -> tuple[bool, ResidentDay | None]:
        """Whether the resident's daily cap allows this redemption, and the resident's day with
        it counted (None without a cap)."""
        if self._cap is None:
            return True, None
        day = bangkok_day(at)
        day_id = ids.resident_day_id(wallet_id, day)
        record = await self._store.get(day_id, ResidentDay) or ResidentDay.open(
            day_id, wallet_id, day
        )
        try:
            record.count(r.id, r.coins, cap=self._cap)
        except MerchantError:
            return False, None
        return True, record

    async def uncount(self, r: Redemption) -> list[ResidentDay]:
        if self._cap is None or r.wallet_id is None:
            return []
        day_id = ids.resident_day_id(r.wallet_id, bangkok_day(r.started_at))
        record = await self._store.get(day_id, ResidentDay)
        if record is None:
            return []
        record.uncount(r.id)
        return [record]
