"""The merchant's background work: finishing what a crash left open.

* :class:`Recoverer` resumes redemptions, rewards and settlements started but not finished
  (the book lists them), with the same derived wallet keys: idempotent at the wallet.
* :func:`wallet_handler` reads ``kgo.wallet.events``: a ``HoldCaptured`` whose reference is
  one of our open redemptions is recorded as redeemed at once; a ``CoinsHeld`` for an open
  card redemption completes it (a card's PIN is never stored, so only the wallet's record
  can finish it), and one for a card redemption declined meanwhile releases the hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg

from kgo_contracts.wallet import CoinsHeld, HoldCaptured
from kgo_runtime.consumer import Handler, dispatch
from kgo_runtime.envelope import Envelope
from kgo_runtime.logging import get_logger

from ..application.ports import WalletDown
from .container import MerchantContainer

log = get_logger(__name__)


class Recoverer:
    name = "merchant-recoverer"

    def __init__(self, merchant: MerchantContainer) -> None:
        self._m = merchant
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.recover_once()
            except Exception:
                log.warning("recovery pass failed; will retry", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), self._m.settings.recovery_interval_seconds
                )

    async def stop(self) -> None:
        self._stopping.set()

    async def recover_once(self) -> int:
        """Resume every open operation older than the grace period; returns how many."""
        await self._m.book.catch_up()
        grace = timedelta(seconds=self._m.settings.recovery_grace_seconds)
        due = await self._m.book.open_operations(self._m.clock.now() - grace)
        done = 0
        for kind, operation_id in due:
            try:
                if kind == "redemption":
                    await self._m.redemptions.resume(operation_id)
                else:
                    await self._m.circulation.resume(operation_id)
                done += 1
            except WalletDown:
                log.info("wallet unavailable; recovery later", operation=str(operation_id))
                break
            except Exception:
                # One operation that cannot be finished now must not hold back the others.
                log.warning("cannot resume an operation yet", operation=str(operation_id),
                            kind=kind, exc_info=True)  # fmt: skip
        if done:
            log.info("open operations resumed", count=done)
        return done


def wallet_handler(merchant: MerchantContainer) -> Handler:
    async def captured(_conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.event
        assert isinstance(event, HoldCaptured)
        recorded = await merchant.redemptions.captured_at_wallet(
            event.reference, hold_id=event.hold_id, wallet_id=event.account_id,
            at=event.occurred_at,
        )  # fmt: skip
        if recorded:
            log.info("redemption finished from the wallet topic", redemption=event.reference)

    async def held(_conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.event
        assert isinstance(event, CoinsHeld)
        if await merchant.redemptions.held_at_wallet(
            event.reference, hold_id=event.hold_id, wallet_id=event.account_id,
            at=event.occurred_at,
        ):  # fmt: skip
            log.info("card redemption's hold taken from the wallet topic",
                     redemption=event.reference)  # fmt: skip

    return dispatch({HoldCaptured: captured, CoinsHeld: held})
