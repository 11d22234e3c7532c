"""Wires the transit service: its event store, the wallet, the fare collector, the relay to
its topic, the wallet-topic consumer that finishes interrupted trips, and the HTTP API.

``kgo serve transit`` runs ``create_app()``. Tests inject a wallet and a clock (and wire the
same container around an in-memory store with :func:`wire`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from fastapi import FastAPI

from kgo_runtime.access import AccessSettings, AccessVerifier, Authenticator, public_key
from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.components import Component
from kgo_runtime.http import NO_TELEMETRY
from kgo_runtime.service import ServiceContext, create_service_app
from kgo_runtime.settings import InfraSettings
from kgo_runtime.wallet_client import WalletClient

from .adapters.contracts import to_contract
from .adapters.devices import ValidatorDevices
from .adapters.digest import PassDigest, pass_digest_key
from .adapters.faults import KillAfterSpend
from .adapters.ridership_book import RidershipBook
from .adapters.wallet import HttpWallet, operator_account_id
from .application.admin import NetworkAdmin, Settlements
from .application.desk import TapDesk
from .application.fares import FareCollector, FarePolicy
from .application.ports import RidershipStatements, WalletPort
from .application.ridership import Ridership
from .application.service import TransitApplication
from .entrypoints.container import TransitContainer
from .entrypoints.http import build_router, install_error_handlers
from .entrypoints.operator_account import OperatorAccount
from .entrypoints.wallet_topic import wallet_topic_handler
from .settings import TransitSettings


def policy_of(settings: TransitSettings) -> FarePolicy:
    return FarePolicy(
        double_tap=timedelta(seconds=settings.double_tap_seconds),
        offline_allowance=settings.offline_allowance_coins,
        loss_programme=settings.loss_programme,
    )


def digest_of(settings: TransitSettings) -> PassDigest:
    configured = settings.pass_digest_key
    access = AccessSettings()
    key = pass_digest_key(
        configured.get_secret_value() if configured else None, InfraSettings().home, access.profile
    )
    return PassDigest(key)


def wire(
    settings: TransitSettings,
    store: TransitApplication,
    wallet: WalletPort,
    clock: Clock,
    operator_id: UUID,
    digest: PassDigest,
    ridership: RidershipStatements | None = None,
) -> TransitContainer:
    """One process's application objects around ``store`` and ``wallet`` (ridership in
    memory unless another keeper is given)."""
    collector = FareCollector(store, wallet, clock, operator_id, policy_of(settings))
    return TransitContainer(
        settings=settings,
        store=store,
        clock=clock,
        digest=digest,
        collector=collector,
        desk=TapDesk(collector),
        admin=NetworkAdmin(store, clock),
        settlements=Settlements(store, wallet, clock, operator_id),
        ridership=ridership or Ridership(store),
        devices=ValidatorDevices(store),
    )


def create_app(
    settings: TransitSettings | None = None,
    *,
    wallet: WalletPort | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or TransitSettings()

    async def build(ctx: ServiceContext) -> Sequence[Component]:
        """Runs at startup once Kafka and Postgres answer (retried until they do); the
        operator's account is opened at the wallet in the background."""
        client = WalletClient.for_service(settings)
        ctx.on_shutdown(client.close)
        port: WalletPort = wallet or HttpWallet(client)
        if settings.fault_kill_after_spend:
            port = KillAfterSpend(port, settings.fault_kill_after_spend)
        operator_id = operator_account_id(settings.operator_ref)
        store = await ctx.open_application(
            TransitApplication, extra_env={"AGGREGATE_CACHE_MAXSIZE": str(settings.cache_size)}
        )
        book = RidershipBook(store, ctx.pool, schema=settings.database_schema)
        await book.create_tables()
        container = wire(
            settings, store, port, clock or SystemClock(), operator_id, digest_of(settings), book
        )
        ctx.on_shutdown(container.desk.close)
        ctx.app.state.transit = container
        ctx.app.state.access = Authenticator(
            verifier=AccessVerifier(public_key()),
            introspection=client.introspection(),
            devices=(container.devices,),
        )
        relay = ctx.relay(store, to_contract, topic_for=lambda _event: settings.events_topic)
        recovery = ctx.consumer(
            "transit-wallet", [settings.wallet_topic], wallet_topic_handler(container.collector)
        )
        opener = OperatorAccount(port, settings.operator_ref, settings.operator_label)
        return [opener, relay, recovery, book]

    app = create_service_app(
        settings,
        build=build,
        routers=[build_router()],
        title="KGO transit",
        description="The city bus: validators, fares and campaigns, taps and trips.",
    )
    install_error_handlers(app)
    return app


def build_api(container: TransitContainer, access: Authenticator) -> FastAPI:
    """The API alone around an already wired container (unit tests: no Kafka, no Postgres)."""
    app = FastAPI(title="KGO transit", telemetry=NO_TELEMETRY)
    app.include_router(build_router())
    install_error_handlers(app)
    app.state.transit = container
    app.state.access = access
    return app
