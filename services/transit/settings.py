"""Settings of the transit service (env prefix ``TRANSIT_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from kgo_contracts import topics
from kgo_runtime.settings import ServiceSettings


class TransitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSIT_", extra="ignore")
    service_name: ClassVar[str] = "transit"

    #: The bus operator's own id for its payee account at the wallet (deterministic id).
    operator_ref: str = "khon-kaen-city-bus"
    operator_label: str = "Khon Kaen City Bus"
    #: The same pass on the same bus within this many seconds (by tap time) pays once.
    double_tap_seconds: int = 180
    #: Coins per pass the loss budget may cover for offline taps; over it, the pass is denied.
    offline_allowance_coins: int = 100
    loss_programme: str = "offline-loss"
    batch_max_taps: int = 10_000
    #: HMAC key of the pass digests (base64url, >= 16 bytes). Validators get it too. On a
    #: developer machine a missing key is generated once into $KGO_HOME/secrets.
    pass_digest_key: SecretStr | None = None
    #: The topic the relay publishes to (another name only for isolated tests).
    events_topic: str = topics.TRANSIT
    #: The wallet's topic, read to finish trips the wallet paid while transit was down.
    wallet_topic: str = topics.WALLET
    #: Aggregates kept in the event store's cache (passes, trips, the network).
    cache_size: int = 20_000
    #: Crash tests only: kill -9 this process right after the wallet answered this many
    #: spends (0: never). See adapters/faults.py.
    fault_kill_after_spend: int = 0
