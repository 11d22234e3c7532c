"""The wallet's event store: eventsourcing on PostgreSQL, configured from WalletSettings.

The store's own insert path is kept (``POSTGRES_ENABLE_DB_FUNCTIONS`` off): it locks the
events table for each insert, so notification ids commit in order and every follower of the
log (the relay, the directory) can never pass a transaction that is still in flight. The
ledger's batching is what wins the throughput back.

The writer must hear an outage within seconds, not wait it out: ``POSTGRES_CONNECT_TIMEOUT``
is how long eventsourcing's pool waits for a connection (its default, 30 s, times its ten
retries per read, held the only writer for minutes), and the recorders of
:mod:`.recorder` retry a failed read or save once, not ten times.
"""

from __future__ import annotations

import psycopg

from kgo_runtime.eventstore import eventstore_env, short_analyze

from ..application.ledger import WalletLedger
from ..settings import WalletSettings


def ledger_env(settings: WalletSettings) -> dict[str, str]:
    return eventstore_env(
        settings.database_url,
        schema=settings.database_schema,
        extra={
            "PERSISTENCE_MODULE": "services.wallet.adapters.recorder:WalletStoreFactory",
            "POSTGRES_POOL_SIZE": str(settings.event_store_pool_size),
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_CONNECT_TIMEOUT": str(settings.store_timeout_seconds),
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "CREATE_TABLE": "y",
            "APPLICATION_RECORDER_TOPIC": "services.wallet.adapters.recorder:WalletRecorder",
        },
    )


def ensure_schema(settings: WalletSettings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')


def open_ledger(settings: WalletSettings) -> WalletLedger:
    """Connect the ledger (blocking: call it in a worker thread from async code)."""
    ensure_schema(settings)
    ledger = WalletLedger(env=ledger_env(settings), cache_size=settings.cache_size)
    short_analyze(ledger)
    return ledger
