"""Opening the bus operator's payee account at the wallet, in the background: transit is
ready without the wallet (its id is deterministic, so taps can be decided and the wallet
asked the moment it answers); this loop retries until the wallet has the account."""

from __future__ import annotations

import asyncio
import contextlib

from kgo_runtime.logging import get_logger

from ..application.ports import WalletPort, WalletUnreachable

log = get_logger(__name__)


class OperatorAccount:
    name = "transit-operator-account"

    def __init__(self, wallet: WalletPort, external_ref: str, label: str) -> None:
        self._wallet = wallet
        self._ref = external_ref
        self._label = label
        self._stopping = asyncio.Event()
        self.opened = asyncio.Event()

    async def run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set() and not self.opened.is_set():
            try:
                account = await self._wallet.open_operator(self._ref, self._label)
            except WalletUnreachable as error:
                log.info("the wallet has not opened the operator's account yet", error=str(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 10.0)
            else:
                log.info("operator's account open", account_id=str(account))
                self.opened.set()
        await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
