"""Wallet settings (env prefix ``WALLET_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from kgo_contracts import topics
from kgo_runtime.settings import ServiceSettings


class WalletSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WALLET_", extra="ignore")
    service_name = "wallet"

    #: The topic the relay publishes the ledger to (another name only for isolated tests).
    events_topic: str = topics.WALLET
    #: The topic whose MissionCompleted records become grants (another only in tests).
    missions_topic: str = topics.MISSIONS
    #: That consumer's name: its consumer group (``kgo.<name>``) and its inbox rows.
    missions_consumer: str = "wallet-missions"
    #: Most commands decided in one transaction.
    max_batch: int = 256
    #: Aggregates the writer keeps in memory.
    cache_size: int = 200_000
    #: Connections of the event store's (psycopg) pool.
    event_store_pool_size: int = 10
    #: Seconds the event store waits for a connection (pool checkout, connect) before the
    #: batch fails as ``store_unavailable``; a failed read or save is retried once within it.
    store_timeout_seconds: int = 2
    #: Seconds a write may wait for its decision; then it is answered 503 and never decided.
    command_deadline_seconds: float = 5.0
    #: Commands that may wait for the writer; one more is answered 503 ``overloaded`` at once.
    command_queue_limit: int = 5_000
    #: How often the hold sweeper looks for expired holds.
    hold_sweep_seconds: float = 1.0
    #: Default life of a hold placed without a ttl.
    default_hold_ttl_seconds: int = 300
    #: Life of a resident's one-time payment code.
    payment_code_ttl_seconds: int = 120
    #: Life of a receive code (shown at a shop to be paid).
    receive_code_ttl_seconds: int = 300
    #: AES-256-GCM key (base64url, exactly 32 bytes) wrapping residents' data keys. Or
    #: ``..._FILE``: a file holding it (the deployment's secret, shared by every wallet host).
    #: Unset in the development and demo profiles only: generated once into $KGO_HOME/secrets/.
    pii_key: SecretStr | None = None
    pii_key_file: Path | None = None
    #: HMAC key (base64url, at least 32 bytes) of the blind indexes of national IDs and phone
    #: numbers; same rules.
    blind_index_key: SecretStr | None = None
    blind_index_key_file: Path | None = None
    #: A service key being retired (rotation, ``kgo wallet rekey``): tried after ``pii_key``;
    #: never generated. Remove it (and destroy it) once rekey reports nothing needs it.
    pii_previous_key: SecretStr | None = None
    pii_previous_key_file: Path | None = None
    #: Values sealed before per-resident keys (under the service key alone): ``open`` (still
    #: read) or ``retired`` (refused; set once ``kgo wallet rekey`` re-sealed all of them).
    legacy_seals: Literal["open", "retired"] = "open"

    # --- erasure (crypto-shredding) ------------------------------------------------------------
    #: What an erased resident's coins do: ``frozen`` (stay in the wallet, which moves nothing
    #: any more) or ``returned`` (go back to the municipality, a recorded movement).
    erasure_balance: Literal["frozen", "returned"] = "frozen"
    #: Whether an erased person may register again with the same national ID.
    reregistration_after_erasure: bool = True

    # --- residents' self-service access (signup, sign-in, sessions) ---------------------------
    #: HMAC key of one-time codes, request keys and client addresses; same rule as above.
    access_code_key: SecretStr | None = None
    access_code_key_file: Path | None = None
    #: The programme's terms a resident accepts at signup (a signup naming another is refused).
    terms_version: str = "kgo-terms-2026-01"
    #: Life of a resident's access token, and of its refresh token.
    resident_access_ttl_seconds: int = 900
    resident_refresh_ttl_seconds: int = 30 * 86_400
    #: Life of a one-time code, and the wrong codes a challenge takes before it is dead.
    code_ttl_seconds: int = 300
    code_max_attempts: int = 5
    #: Codes sent to one phone, and from one client address, per window.
    code_sends_per_phone: int = 3
    code_sends_per_phone_window_seconds: int = 900
    code_sends_per_address: int = 20
    code_sends_per_address_window_seconds: int = 3600
    #: Codes checked from one client address per window (all challenges together).
    code_checks_per_address: int = 30
    code_checks_per_address_window_seconds: int = 900
    #: Where the development notifier appends the codes it "sends" (JSON lines); default
    #: $KGO_HOME/outbox/sms.jsonl.
    sms_outbox: Path | None = None
