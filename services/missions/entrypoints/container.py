"""What the missions entrypoints need, built once in the lifespan (``bootstrap.py``) and
reached from a request as ``request.app.state.missions``."""

from __future__ import annotations

from dataclasses import dataclass

from kgo_runtime.clock import Clock

from ..adapters.wallet_cards import CardResolver
from ..application.service import MissionsApplication
from ..settings import MissionsSettings


@dataclass
class MissionsContainer:
    settings: MissionsSettings
    missions: MissionsApplication
    #: Business time of commands arriving over HTTP (a ManualClock in tests).
    clock: Clock
    #: Card numbers to wallets, through the wallet (None: cards are not accepted).
    cards: CardResolver | None = None
