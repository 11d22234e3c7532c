"""Fault injection for the crash tests: a wallet port that kills its own process with
SIGKILL right after the wallet answered a spend, before transit records the answer: the
worst moment, when the coins are taken and the trip is still pending. Enabled only by
``TRANSIT_FAULT_KILL_AFTER_SPEND`` (never set outside tests)."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ..application.ports import FareAsk, WalletAnswer, WalletPort


class KillAfterSpend:
    def __init__(self, wallet: WalletPort, after: int) -> None:
        self._wallet = wallet
        self._left = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wallet, name)

    async def spend_fare(
        self, *, operator_id: UUID, amount: int, reference: str, pass_token: str, key: str
    ) -> WalletAnswer:
        answer = await self._wallet.spend_fare(
            operator_id=operator_id,
            amount=amount,
            reference=reference,
            pass_token=pass_token,
            key=key,
        )
        self._spent(1)
        return answer

    async def spend_fares(
        self, *, operator_id: UUID, fares: Sequence[FareAsk]
    ) -> list[WalletAnswer | None]:
        answers = await self._wallet.spend_fares(operator_id=operator_id, fares=fares)
        self._spent(sum(answer is not None for answer in answers))
        return answers

    def _spent(self, count: int) -> None:
        self._left -= count
        if count and self._left <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
