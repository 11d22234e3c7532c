"""Wires the merchant service: event store, wallet port, tills, the book, the relay, the
recoverer and the wallet-topic consumer, and the HTTP API.

``kgo serve merchant`` runs ``create_app()``. Tests pass their own ``clock`` (and, in the
unit layer only, a fake ``wallet``); nothing connects at import or in ``create_app``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from fastapi import FastAPI

from kgo_runtime.access import AccessSettings, AccessVerifier, Authenticator, public_key
from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.components import Component
from kgo_runtime.processing import each
from kgo_runtime.service import ServiceContext, create_service_app
from kgo_runtime.settings import InfraSettings
from kgo_runtime.wallet_client import WalletClient

from .adapters.book import MerchantBook
from .adapters.contracts import to_contract
from .adapters.fingerprint import KeyedFingerprint, fingerprint_key
from .adapters.postgres import PostgresContacts, PostgresGuessLimiter, create_merchant_tables
from .adapters.tills import TillRegistry
from .adapters.wallet import HttpWallet
from .application.circulation import Circulation
from .application.ports import WalletPort
from .application.redemptions import Policy, Redemptions
from .application.service import MerchantApplication
from .application.shops import Shops
from .application.store import Store
from .entrypoints.background import Recoverer, wallet_handler
from .entrypoints.container import KillAt, MerchantContainer
from .entrypoints.http import build_router, install_error_handlers
from .settings import MerchantSettings


def create_app(
    settings: MerchantSettings | None = None,
    *,
    clock: Clock | None = None,
    wallet: WalletPort | None = None,
) -> FastAPI:
    settings = settings or MerchantSettings()
    clock = clock or SystemClock()
    schema = settings.database_schema

    async def build(ctx: ServiceContext) -> Sequence[Component]:
        application = await ctx.open_application(MerchantApplication)
        store = Store(application)
        client = WalletClient.for_service(settings)
        ctx.on_shutdown(client.close)
        port = wallet or HttpWallet(client)
        await create_merchant_tables(ctx.pool, schema)
        tills = TillRegistry(ctx.pool, clock, schema=schema)
        await tills.create_tables()
        limiter = PostgresGuessLimiter(
            ctx.pool, clock, schema=schema, limit=settings.guess_limit,
            window=timedelta(seconds=settings.guess_window_seconds),
        )  # fmt: skip
        book = MerchantBook(application, ctx.pool, schema=schema)
        await book.create_tables()
        shops = Shops(store, port, PostgresContacts(ctx.pool, schema=schema), clock)
        policy = Policy(
            settings.void_window_seconds, settings.daily_cap_coins, settings.card_abandon_seconds
        )
        crash = KillAt("after_capture") if settings.crash_after_capture else None
        fingerprint = KeyedFingerprint(fingerprint_key(
            settings.fingerprint_key.get_secret_value() if settings.fingerprint_key else None,
            InfraSettings().home, AccessSettings().profile,
        ))  # fmt: skip
        container = MerchantContainer(
            settings=settings, clock=clock, shops=shops,
            redemptions=Redemptions(store, port, limiter, clock, policy, crash, fingerprint),
            circulation=Circulation(store, port, shops, clock), tills=tills, book=book,
        )  # fmt: skip
        ctx.app.state.access = Authenticator(
            verifier=AccessVerifier(public_key()),
            introspection=client.introspection(),
            devices=(tills.authenticate,),
        )
        ctx.app.state.merchant = container
        relay = ctx.relay(application, to_contract, topic_for=lambda _e: settings.events_topic)
        group = "kgo.merchant-wallet" + ("" if schema == "public" else f".{schema}")
        # Batched: of the wallet's records only a redemption's hold and capture matter here,
        # and the others cost one transaction a poll instead of one each.
        consumer = ctx.consumer(
            "merchant-wallet", [settings.wallet_events_topic], each(wallet_handler(container)),
            group_id=group, batched=True,
        )  # fmt: skip
        return [relay, book, Recoverer(container), consumer]

    app = create_service_app(
        settings, build=build, routers=[build_router()], title="KGO merchant",
        description="Shops, their tills and rules, redemptions, rewards, settlements, "
        "daily statements.",
    )  # fmt: skip
    install_error_handlers(app)
    return app
