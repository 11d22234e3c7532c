"""Residents made at a served wallet through the wallet's own command layer, for
bench.memory: the state the other services' scenarios need, without an HTTP request each."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from bench.http import thai_national_id
from bench.memory import post
from services.wallet.settings import WalletSettings

WALLET_TOPICS = ("EVENTS_TOPIC", "MISSIONS_TOPIC")
#: Coins granted to each rider and payer: their taps and redemptions cost 1 coin each, and the
#: ``bench`` budget (900,000 coins of the fixed supply) must pay 100,000 of them.
COINS = 5


class WalletSeeder:
    """Residents registered through the wallet's own command layer (its ResidentData and
    CommandBus on the served wallet's schema, in this process): the same rules and records
    as ``POST /v1/residents``, without an HTTP request each."""

    def __init__(self, settings: WalletSettings) -> None:
        self.settings = settings

    async def __aenter__(self) -> WalletSeeder:
        from kgo_runtime.clock import SystemClock
        from services.wallet.adapters.event_store import open_ledger
        from services.wallet.adapters.resident_keys import PostgresResidentKeys
        from services.wallet.application.bus import CommandBus
        from services.wallet.bootstrap import checked_keys
        from services.wallet.entrypoints.container import resident_data

        self.pool = await asyncpg.create_pool(self.settings.database_url, min_size=1, max_size=32)
        self.ledger = await asyncio.to_thread(open_ledger, self.settings)
        self.bus = CommandBus(self.ledger)
        await self.bus.start()
        keys = PostgresResidentKeys(self.pool, schema=self.settings.database_schema)
        self.clock = SystemClock()
        self.vault = checked_keys(self.settings)
        self.data = resident_data(
            self.settings, self.vault, keys, self.ledger, self.bus, self.clock
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.bus.stop()
        await asyncio.to_thread(self.ledger.close)
        await self.pool.close()

    async def register(self, i: int) -> str:
        """Resident ``i``'s wallet id."""
        stamp = self._stamp(str(i))
        personal = {"national_id": thai_national_id(i), "phone": f"08{i:08d}"}
        command = await self.data.registration(
            stamp, national_id=personal["national_id"], phone=personal["phone"],
            personal=personal, sealed_extra={}, digest_extra={},
        )  # fmt: skip
        outcome = await self.bus.submit(command, deadline=60)
        if not outcome.ok:
            raise RuntimeError(f"registration {i}: {outcome.status} {outcome.body}")
        return str(outcome.body["wallet_id"])

    async def rider(self, i: int) -> str:
        """Resident ``i`` registered, granted :data:`COINS` from the ``bench`` budget and with a
        transit pass linked (``POST /v1/transit-passes``'s command); the pass."""
        from services.wallet.adapters.instrument_secrets import (
            TRANSIT_PASS,
            InstrumentSecrets,
            draw_pass,
        )
        from services.wallet.application.commands import Grant
        from services.wallet.application.consent_commands import LinkTransitPass

        wallet_id = uuid.UUID(await self.register(i))
        vault = self.vault
        token = draw_pass()
        for command in (
            Grant(**self._stamp(f"grant-{i}"), programme="bench", wallet_id=wallet_id,
                  amount=COINS, reason="benchmark", reference=f"r{i}"),
            LinkTransitPass(**self._stamp(f"pass-{i}"), wallet_id=wallet_id,
                            instrument_id=InstrumentSecrets(vault).id_of(TRANSIT_PASS, token),
                            sealed_secret=vault.seal({"secret": token})),
        ):  # fmt: skip
            outcome = await self.bus.submit(command, deadline=60)
            if not outcome.ok:
                raise RuntimeError(f"{command.name} {i}: {outcome.status} {outcome.body}")
        return token

    async def payer(self, i: int) -> str:
        """Resident ``i`` registered, granted :data:`COINS` and holding a payment code valid for
        an hour (``POST /v1/payment-codes``'s command); the code."""
        from services.wallet.adapters.instrument_secrets import (
            PAYMENT_CODE,
            InstrumentSecrets,
            draw_code,
        )
        from services.wallet.application.commands import Grant
        from services.wallet.application.consent_commands import IssuePaymentCode

        wallet_id = uuid.UUID(await self.register(i))
        grant = Grant(**self._stamp(f"grant-{i}"), programme="bench", wallet_id=wallet_id,
                      amount=COINS, reason="benchmark", reference=f"r{i}")  # fmt: skip
        outcome = await self.bus.submit(grant, deadline=60)
        vault = self.vault
        for draw in range(5):  # a code drawn twice is refused as code_collision: draw again
            code = draw_code()
            issue = IssuePaymentCode(
                **self._stamp(f"code-{i}-{draw}"), wallet_id=wallet_id, ttl_seconds=3600,
                instrument_id=InstrumentSecrets(vault).id_of(PAYMENT_CODE, code),
                sealed_secret=vault.seal({"secret": code}),
            )  # fmt: skip
            outcome = await self.bus.submit(issue, deadline=60)
            if outcome.body.get("code") != "code_collision":
                break
        if not outcome.ok:
            raise RuntimeError(f"payment code {i}: {outcome.status} {outcome.body}")
        return code

    def _stamp(self, key: str) -> dict[str, Any]:
        return {"idempotency_key": f"bench-{key}", "caller": "bench", "at": self.clock.now()}


async def treasury(api: httpx.AsyncClient, admin: str) -> None:
    """The supply minted and a ``bench`` budget of 900,000 coins."""
    await post(api, "/v1/treasury/genesis", {}, admin)
    await post(api, "/v1/budgets", {"programme": "bench", "label": "Benchmark"}, admin)
    await post(api, "/v1/budgets/bench/allocations", {"amount": 900_000}, admin)
