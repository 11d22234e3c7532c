"""What the merchant's routes and loops share, built once by ``bootstrap.build``."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from kgo_runtime.clock import Clock

from ..adapters.book import MerchantBook
from ..adapters.tills import TillRegistry
from ..application.circulation import Circulation
from ..application.redemptions import Redemptions
from ..application.shops import Shops
from ..settings import MerchantSettings


@dataclass
class MerchantContainer:
    settings: MerchantSettings
    clock: Clock
    shops: Shops
    redemptions: Redemptions
    circulation: Circulation
    tills: TillRegistry
    book: MerchantBook


class KillAt:
    """Fault injection for the crash tests: SIGKILL this process at the named point."""

    def __init__(self, *points: str) -> None:
        self._points = set(points)

    def point(self, name: str) -> None:
        if name in self._points:
            os.kill(os.getpid(), signal.SIGKILL)
