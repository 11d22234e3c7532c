"""Missions in memory: the real application on eventsourcing's in-memory store, the real
consumer dispatch fed through an in-memory inbox, and the real HTTP app built by the
bootstrap with a throwaway access key and a ManualClock (fakes live here only)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_contracts.base import BANGKOK, ContractEvent
from kgo_contracts.merchant import DiscountRedeemed
from kgo_contracts.transit import FarePaid
from kgo_contracts.wallet import AccountOpened
from kgo_runtime.access import AccessSigner, Authenticator, Principal, Role
from kgo_runtime.clock import ManualClock
from kgo_runtime.envelope import decode, encode
from services.missions.application.service import MissionsApplication
from services.missions.bootstrap import create_app, install
from services.missions.entrypoints.consumer import batch_handler
from services.missions.entrypoints.container import MissionsContainer
from services.missions.settings import MissionsSettings

T0 = datetime(2022, 6, 9, 8, 0, tzinfo=BANGKOK)  # a Thursday
_ids = itertools.count(1)


class ConsumerHarness:
    """What IdempotentConsumer does with a record, minus the broker and Postgres: encode the
    contract as the relay would, decode it as the consumer does, drop a ce_id it has seen
    (the inbox), and call the very handler the service's consumer is given (batched: a
    batch of one record here, as in its per-record fallback; :meth:`feed_batch` for more)."""

    def __init__(self, missions: MissionsApplication) -> None:
        self.missions = missions
        self.handle = batch_handler(missions)
        self.inbox: set[str] = set()
        self.duplicates = 0

    async def feed(
        self, event: ContractEvent, ce_id: str | None = None, *, inbox: bool = True
    ) -> None:
        """``inbox=False``: as if the consumer's transaction was lost after the effect (a crash
        between the two commits): the record passes the inbox and is not remembered."""
        record = encode(
            event, ce_id=ce_id or str(uuid4()), source=f"/kgo/{event.topic.split('.')[1]}"
        )
        envelope = decode(record.headers, record.value)
        if inbox and envelope.id in self.inbox:
            self.duplicates += 1
            return
        await self.handle(None, [envelope])  # type: ignore[arg-type]
        if inbox:
            self.inbox.add(envelope.id)

    async def feed_batch(self, events: list[tuple[ContractEvent, str]]) -> None:
        """Several records (event, ce_id) in one batch, as the batched consumer hands them
        over: those the inbox has seen, or seen earlier in the batch, dropped."""
        envelopes = []
        for event, ce_id in events:
            record = encode(event, ce_id=ce_id, source=f"/kgo/{event.topic.split('.')[1]}")
            envelope = decode(record.headers, record.value)
            if envelope.id in self.inbox:
                self.duplicates += 1
                continue
            self.inbox.add(envelope.id)
            envelopes.append(envelope)
        await self.handle(None, envelopes)  # type: ignore[arg-type]


def opened(wallet: UUID, at: datetime = T0) -> AccountOpened:
    return AccountOpened(
        account_id=wallet, account_kind="resident", account_version=1, occurred_at=at
    )


def fare(wallet: UUID, at: datetime) -> FarePaid:
    return FarePaid(
        trip_id=uuid4(), wallet_id=wallet, validator_id="v-1", route_id="r-8",
        fare_product="one-baht-bus-2022", coins=1, baht_satang=0, occurred_at=at,
    )  # fmt: skip


def redeemed(wallet: UUID, shop: UUID, at: datetime) -> DiscountRedeemed:
    return DiscountRedeemed(
        redemption_id=uuid4(), shop_id=shop, wallet_id=wallet, hold_id=uuid4(), coins=10,
        discount_satang=1000, bill_satang=5000, occurred_at=at,
    )  # fmt: skip


def mission_spec(**overrides: Any) -> dict[str, Any]:
    n = next(_ids)
    return {
        "code": f"mission-{n}", "title_th": "ภารกิจ", "title_en": f"Mission {n}",
        "reward": 50, "starts_at": T0.isoformat(), "period": "daily", "limit": 1,
        "campaign": "welcome", "programme": "welcome",
        "rule": {"kind": "count", "event": "fare_paid", "count": 5},
    } | overrides  # fmt: skip


@pytest.fixture
def missions() -> MissionsApplication:
    return MissionsApplication()


@pytest.fixture
def harness(missions: MissionsApplication) -> ConsumerHarness:
    return ConsumerHarness(missions)


class Api:
    """The missions HTTP app with tokens minted by a throwaway key."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        signer: AccessSigner,
        clock: ManualClock,
        container: MissionsContainer,
    ) -> None:
        self.client = client
        self.container = container
        self.signer = signer
        self.clock = clock
        self.keys = itertools.count()

    def token(self, role: Role, subject: str | None = None) -> dict[str, str]:
        issued = self.signer.issue(role, f"test-{role}", subject, timedelta(days=30))
        return {"Authorization": f"Bearer {issued.token}"}

    def admin(self) -> dict[str, str]:
        return self.token(Role.MUNICIPAL_ADMIN)

    async def post(
        self, path: str, body: Any, headers: dict[str, str], key: str | None = None
    ) -> httpx.Response:
        key = key or f"key-{next(self.keys)}"
        return await self.client.post(path, json=body, headers=headers | {"Idempotency-Key": key})


@pytest.fixture
async def api(missions: MissionsApplication) -> AsyncIterator[Api]:
    clock = ManualClock(T0)
    signer = AccessSigner(Ed25519PrivateKey.generate(), clock=clock)

    async def no_api_tokens(_token: str) -> Principal | None:
        return None

    app = create_app(MissionsSettings(), clock=clock)
    container = install(
        app, missions, Authenticator(verifier=signer.verifier, devices=(no_api_tokens,)),
        settings=MissionsSettings(), clock=clock,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://missions") as client:
        yield Api(client, signer, clock, container)
