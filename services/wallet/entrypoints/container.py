"""What the wallet's entrypoints need, built once in the service's lifespan (bootstrap.py)
and reached from a request as ``request.app.state.wallet``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_runtime.access import AccessSigner
from kgo_runtime.clock import Clock, SystemClock

from ..adapters.contracts import published_history
from ..adapters.personal_data import PersonalDataVault
from ..adapters.resident_keys import MemoryResidentKeys
from ..adapters.tokens import ApiTokens
from ..adapters.wallet_metrics import WalletMetrics
from ..application.bus import CommandBus
from ..application.ledger import WalletLedger
from ..application.resident_access import ResidentAccess
from ..application.resident_data import ResidentData
from ..application.resident_ports import ResidentKeyStore, Submitter
from ..settings import WalletSettings

#: Thailand keeps +07:00 all year (no daylight saving), so a fixed offset is exact.
BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")


def business_now() -> datetime:
    """Business time for a command arriving now: the wallet's clock, in Asia/Bangkok."""
    return datetime.now(BANGKOK)


class AccountDirectory(Protocol):
    """The wallet's own read model of its accounts (kept from its event log)."""

    async def budgets(self) -> list[dict[str, Any]]: ...

    async def supply(self) -> dict[str, Any]: ...


@dataclass
class WalletContainer:
    settings: WalletSettings
    ledger: WalletLedger
    bus: CommandBus
    vault: PersonalDataVault
    directory: AccountDirectory
    tokens: ApiTokens
    #: Signs short-lived access tokens (residents' sign-in); any service checks them with
    #: the public key. Tests get a throwaway key.
    access: AccessSigner = field(default_factory=lambda: AccessSigner(Ed25519PrivateKey.generate()))
    #: Business time (a ManualClock in tests).
    clock: Clock = field(default_factory=SystemClock)
    #: Residents' signup, sign-in and sessions (None: those routes answer 503).
    residents: ResidentAccess | None = None
    #: The service's metrics; None in tests that do not look at them.
    metrics: WalletMetrics | None = None
    #: Residents' data keys and blind indexes (Postgres in the service, memory in tests).
    keys: ResidentKeyStore = field(default_factory=MemoryResidentKeys)

    @property
    def resident_data(self) -> ResidentData:
        return resident_data(self.settings, self.vault, self.keys, self.ledger, self.bus,
                             self.clock)  # fmt: skip


def resident_data(
    settings: WalletSettings,
    vault: PersonalDataVault,
    keys: ResidentKeyStore,
    ledger: WalletLedger,
    bus: Submitter,
    clock: Clock,
) -> ResidentData:
    return ResidentData(
        vault=vault, keys=keys, ledger=ledger, bus=bus, clock=clock,
        history=partial(published_history, ledger),
        return_balance=settings.erasure_balance == "returned",
        reregistration=settings.reregistration_after_erasure,
    )  # fmt: skip
