"""Wires the wallet service: event store, command bus, relay, directory, sweeper, the missions
consumer (completions become grants), the day closer (signed daily digests), HTTP API.

``kgo serve wallet`` runs ``create_app()``. Nothing connects at import or in ``create_app``:
the runtime's lifespan calls ``build`` once Kafka and Postgres answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from fastapi import FastAPI

from kgo_runtime.access import AccessKeyError, AccessSigner, signing_key
from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.components import Component
from kgo_runtime.logging import get_logger
from kgo_runtime.service import ServiceContext, create_service_app

from .adapters.contracts import is_internal_topic, read_stored, to_contract
from .adapters.directory import WalletDirectory
from .adapters.event_store import open_ledger
from .adapters.notifier import FileNotifier
from .adapters.one_time_codes import PostgresChallenges, code_secret
from .adapters.personal_data import PersonalDataVault, vault_from
from .adapters.rate_limits import PostgresRateLimiter
from .adapters.resident_keys import PostgresResidentKeys
from .adapters.sessions import PostgresRefreshTokens
from .adapters.tokens import PostgresTokenStore
from .adapters.wallet_metrics import WalletMetrics
from .application.bus import CommandBus
from .application.ledger import WalletLedger
from .application.resident_access import AccessPolicy, Limit, ResidentAccess
from .application.resident_data import ResidentData
from .entrypoints.background import HoldSweeper
from .entrypoints.container import WalletContainer, resident_data
from .entrypoints.day_closer import digest_wiring
from .entrypoints.http import API_METADATA, build_router, install_error_handlers
from .entrypoints.missions import MissionGrants
from .settings import WalletSettings

log = get_logger(__name__)


def create_app(settings: WalletSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or WalletSettings()
    clock = clock or SystemClock()

    async def build(ctx: ServiceContext) -> Sequence[Component]:
        vault = checked_keys(settings)
        ledger = await asyncio.to_thread(open_ledger, settings)
        ctx.on_shutdown(lambda: asyncio.to_thread(ledger.close))
        metrics = WalletMetrics(ctx.metrics, ledger)
        bus = CommandBus(
            ledger,
            max_batch=settings.max_batch,
            max_queued=settings.command_queue_limit,
            deadline=settings.command_deadline_seconds,
            observe=metrics.observe_batch,
        )
        await bus.start()
        ctx.on_shutdown(bus.stop)
        directory = WalletDirectory(ledger, ctx.pool, schema=settings.database_schema)
        await directory.create_tables()
        tokens = PostgresTokenStore(ctx.pool, schema=settings.database_schema)
        await tokens.create_tables()
        access = AccessSigner(signing_key(), clock)
        keys = PostgresResidentKeys(ctx.pool, schema=settings.database_schema)
        await keys.create_tables()
        data = resident_data(settings, vault, keys, ledger, bus, clock)
        residents = await _resident_access(ctx, settings, clock, ledger, bus, vault, access, data)
        ctx.app.state.wallet = WalletContainer(
            settings=settings,
            ledger=ledger,
            bus=bus,
            vault=vault,
            directory=directory,
            tokens=tokens,
            access=access,
            clock=clock,
            residents=residents,
            metrics=metrics,
            keys=keys,
        )
        sweeper = HoldSweeper(directory, bus, metrics, settings.hold_sweep_seconds, clock)
        digests = digest_wiring(ledger, to_contract, settings.events_topic, clock)
        relay = ctx.relay(
            ledger, digests.to_contract, topic_for=digests.topic_for,
            internal_topic=is_internal_topic, read_stored=read_stored(ledger.mapper),
        )  # fmt: skip
        grants = MissionGrants(bus, clock)
        # Grants are independent of each other: a poll's completions of every partition go
        # to the ledger together (one inbox transaction, one or a few ledger batches).
        missions = ctx.consumer(
            settings.missions_consumer, [settings.missions_topic], grants.on_batch,
            batched=True, across_partitions=True,
        )  # fmt: skip
        return [relay, directory, sweeper, missions, *filter(None, [digests.closer])]

    app = create_service_app(settings, build=build, routers=[build_router()])
    for attribute, value in API_METADATA.items():
        setattr(app, attribute, value)
    install_error_handlers(app)
    return app


async def _resident_access(
    ctx: ServiceContext,
    settings: WalletSettings,
    clock: Clock,
    ledger: WalletLedger,
    bus: CommandBus,
    vault: PersonalDataVault,
    access: AccessSigner,
    data: ResidentData,
) -> ResidentAccess:
    """Residents' signup, sign-in and sessions, on the wallet's own database."""
    schema = settings.database_schema
    challenges = PostgresChallenges(ctx.pool, schema=schema)
    limiter = PostgresRateLimiter(ctx.pool, schema=schema)
    refresh_tokens = PostgresRefreshTokens(ctx.pool, schema=schema)
    for store in (challenges, limiter, refresh_tokens):
        await store.create_tables()
    return ResidentAccess(
        policy=access_policy(settings),
        clock=clock,
        secret=code_secret(settings),
        vault=vault,
        ledger=ledger,
        bus=bus,
        issuer=access,
        notifier=FileNotifier(settings.sms_outbox),
        challenges=challenges,
        limiter=limiter,
        refresh_tokens=refresh_tokens,
        data=data,
    )


def checked_keys(settings: WalletSettings) -> PersonalDataVault:
    """The wallet's keys, validated before anything else starts: a bad one keeps the service
    from becoming ready (the runtime retries, and every attempt logs why)."""
    try:
        code_secret(settings)
        return vault_from(settings)
    except AccessKeyError as error:
        log.error("wallet keys refused; the wallet will not become ready", reason=str(error))
        raise


def access_policy(settings: WalletSettings) -> AccessPolicy:
    s = settings

    def seconds(value: int) -> timedelta:
        return timedelta(seconds=value)

    return AccessPolicy(
        terms_version=s.terms_version,
        code_ttl=seconds(s.code_ttl_seconds),
        code_max_attempts=s.code_max_attempts,
        access_ttl=seconds(s.resident_access_ttl_seconds),
        refresh_ttl=seconds(s.resident_refresh_ttl_seconds),
        sends_per_phone=Limit(
            s.code_sends_per_phone, seconds(s.code_sends_per_phone_window_seconds)
        ),
        sends_per_address=Limit(
            s.code_sends_per_address, seconds(s.code_sends_per_address_window_seconds)
        ),
        checks_per_address=Limit(
            s.code_checks_per_address, seconds(s.code_checks_per_address_window_seconds)
        ),
    )
