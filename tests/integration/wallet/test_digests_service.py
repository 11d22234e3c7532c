"""The day closer as `kgo serve wallet` builds it (bootstrap.create_app, its lifespan run in
this process): the business clock passes midnight, the wallet closes the day and its relay
publishes the signed digest, which verifies from Kafka alone."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from kgo_cli.audit_cmd import audit
from kgo_contracts.base import BANGKOK
from kgo_runtime.clock import ManualClock
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name
from services.wallet.adapters.digest_signing import DigestSigner
from services.wallet.application import commands as c
from services.wallet.bootstrap import create_app
from services.wallet.settings import WalletSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def settings(
    wallet_settings: WalletSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[WalletSettings, str]]:
    events, missions, digests = (unique_name(f"t.{n}") for n in ("wallet", "missions", "digests"))
    topics = [events, missions, digests]
    await create_topics(wallet_settings.kafka_bootstrap, topics, partitions=3)
    monkeypatch.setenv("WALLET_DIGEST_TOPIC", digests)
    monkeypatch.setenv("WALLET_DIGEST_CHECK_SECONDS", "0.1")
    yield wallet_settings.model_copy(
        update={"events_topic": events, "missions_topic": missions,
                "missions_consumer": wallet_settings.database_schema},
    ), digests  # fmt: skip
    await delete_topics(wallet_settings.kafka_bootstrap, topics)


async def test_the_wallet_closes_the_day_at_midnight(
    settings: tuple[WalletSettings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet_settings, digests = settings
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    monkeypatch.setenv("WALLET_DIGEST_SIGNING_KEY", base64.urlsafe_b64encode(seed).decode())
    clock = ManualClock(datetime(2022, 6, 9, 22, 0, tzinfo=BANGKOK))
    app = create_app(wallet_settings, clock=clock)
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.runtime.started.wait(), 60)
        wallet = app.state.wallet
        minted = await wallet.bus.submit(
            c.MintGenesis(idempotency_key=uuid4().hex, caller="admin", at=clock.now())
        )
        assert minted.ok, minted
        clock.set(datetime(2022, 6, 10, 0, 0, 1, tzinfo=BANGKOK))
        [record] = await read_topic(wallet_settings.kafka_bootstrap, digests, count=1)
    digest = json.loads(record.value)
    assert (digest["day"], digest["totals"]["minted"]) == ("2022-06-09", 1_000_000)
    signer = DigestSigner(key)
    assert digest["key_id"] == signer.key_id
    result = await audit(
        wallet_settings.kafka_bootstrap, wallet_settings.events_topic, digests,
        {signer.key_id: key.public_key()},
    )  # fmt: skip
    assert result.problems == [] and result.days_checked == ["2022-06-09"]
