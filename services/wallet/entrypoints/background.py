"""The wallet's background loops: expiring unanswered holds, and keeping the supply gauges."""

from __future__ import annotations

import asyncio
import contextlib

from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.logging import get_logger

from ..adapters.directory import WalletDirectory
from ..adapters.wallet_metrics import WalletMetrics
from ..application.bus import CommandBus
from ..application.commands import ExpireHold

log = get_logger(__name__)

SWEEPER = "wallet:hold-sweeper"


class HoldSweeper:
    """Every few seconds, asks the ledger to expire the holds whose time has passed. The
    ledger decides at the command's business time, and refuses a hold already captured or
    released, so a stale directory row costs one refusal and nothing else."""

    name = "wallet-hold-sweeper"

    def __init__(
        self,
        directory: WalletDirectory,
        bus: CommandBus,
        metrics: WalletMetrics,
        interval: float,
        clock: Clock | None = None,
    ) -> None:
        self._directory = directory
        self._bus = bus
        self._metrics = metrics
        self._interval = interval
        self._stopping = asyncio.Event()
        self._clock = clock or SystemClock()

    async def run(self) -> None:
        self._stopping.clear()
        while not self._stopping.is_set():
            await self.sweep_once()
            await self._report_supply()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self) -> None:
        self._stopping.set()

    async def sweep_once(self) -> int:
        at = self._clock.now()
        expired = 0
        for wallet_id, hold_id in await self._directory.due_holds(at):
            outcome = await self._bus.submit(
                ExpireHold(
                    idempotency_key=f"expire:{hold_id}:{at.isoformat()}",
                    caller=SWEEPER,
                    at=at,
                    wallet_id=wallet_id,
                    hold_id=hold_id,
                )
            )
            expired += outcome.ok
        if expired:
            self._metrics.holds_expired.inc(expired)
            log.info("holds expired", count=expired)
        return expired

    async def _report_supply(self) -> None:
        if not self._directory.caught_up:
            return
        supply = await self._directory.supply()
        self._metrics.supply_minted.set(supply["minted"])
        self._metrics.supply_in_accounts.set(supply["in_accounts"])
        self._metrics.supply_conserved.set(1 if supply["conserved"] else 0)
        self._metrics.conservation_gap.set(supply["minted"] - supply["in_accounts"])
        for budget in await self._directory.budgets():
            self._metrics.budget_available.labels(budget["programme"]).set(budget["available"])
