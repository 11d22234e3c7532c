"""The day closer: a background component that closes the ledger's Bangkok days as the
business clock passes midnight (``application/day_closing.py``), and its wiring."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from kgo_runtime.clock import Clock
from kgo_runtime.logging import get_logger
from kgo_runtime.relay import ToContract

from ..adapters.digest_contracts import digest_topic_for, with_digests
from ..adapters.digest_signing import DigestSettings, DigestSigner, signing_key
from ..application.day_closing import DayClosing
from ..application.ledger import WalletLedger

log = get_logger(__name__)


class DayCloser:
    name = "wallet-day-closer"

    def __init__(self, closing: DayClosing, interval: float) -> None:
        self.closing = closing
        self._interval = interval
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.closing.close_due)
            except Exception:  # the store is down, say: try again at the next tick
                log.warning("closing the day failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self) -> None:
        self._stopping.set()


@dataclass(frozen=True)
class DigestWiring:
    """What the wallet's bootstrap needs: the relay's mapping and topics, and the closer
    (None when this wallet publishes no digests)."""

    to_contract: ToContract
    topic_for: Any
    closer: DayCloser | None


def digest_wiring(
    ledger: WalletLedger,
    to_contract: ToContract,
    ledger_topic: str,
    clock: Clock,
    settings: DigestSettings | None = None,
) -> DigestWiring:
    settings = settings or DigestSettings()
    topic = settings.topic_for(ledger_topic)
    mapped = with_digests(to_contract, published=topic is not None)
    closer = None
    if topic is not None:
        closing = DayClosing(ledger, mapped, DigestSigner(signing_key(settings)), clock)
        closer = DayCloser(closing, settings.check_seconds)
    return DigestWiring(mapped, digest_topic_for(ledger_topic, topic), closer)
