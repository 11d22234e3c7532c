"""Settings of the merchant service (env prefix ``MERCHANT_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from kgo_contracts import topics
from kgo_runtime.settings import ServiceSettings


class MerchantSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCHANT_", extra="ignore")
    service_name: ClassVar[str] = "merchant"

    #: The topic the relay publishes to (another name only for isolated tests).
    events_topic: str = topics.MERCHANT
    #: The wallet's topic, read to finish redemptions the wallet captured before a crash.
    wallet_events_topic: str = topics.WALLET
    #: How long after a redemption it may be voided; unset: until the end of its Bangkok day.
    void_window_seconds: int | None = None
    #: The municipality's cap on coins one resident redeems per Bangkok day; unset: none.
    daily_cap_coins: int | None = None
    #: HMAC key (base64url, 16+ bytes) of card fingerprints in request hashes; required in
    #: production, generated into ``$KGO_HOME/secrets`` elsewhere.
    fingerprint_key: SecretStr | None = None
    #: Wrong payment codes, card numbers or PINs a till may send within the window before it
    #: is locked out.
    guess_limit: int = 5
    guess_window_seconds: int = 900
    #: The budget a settlement returns coins to unless the request names another.
    settlement_programme: str = "municipal-activities"
    #: How often, and after how long, unfinished redemptions/rewards/settlements are resumed.
    recovery_interval_seconds: float = 5.0
    recovery_grace_seconds: float = 10.0
    #: A card redemption still unheld this long is declined ``redemption_interrupted`` by the
    #: recoverer (its PIN was never stored, so only the till's retry could repeat the hold).
    card_abandon_seconds: float = 60.0
    #: Tests only: die (SIGKILL) right after the wallet captured a hold, before the record.
    crash_after_capture: bool = False
