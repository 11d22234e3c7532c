"""The published digests through the projections' API, without a token: the consumer of the
digests topic keeps each day once (a duplicate record changes nothing), the list and a day's
digest are served as signed, an unknown day is a problem."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kgo_contracts.examples_digests import examples
from kgo_runtime.access import AccessVerifier, Authenticator
from kgo_runtime.envelope import encode
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.projections.bootstrap import create_app
from services.projections.settings import ProjectionsSettings

from .conftest import BOOTSTRAP, produce

pytestmark = pytest.mark.integration


def listed(client: TestClient) -> list[dict[str, Any]]:
    for _ in range(600):
        answer = client.get("/v1/public/digests")
        if answer.status_code == 200 and answer.json()["digests"]:
            return list(answer.json()["digests"])
        time.sleep(0.05)
    raise TimeoutError("no digest was ever served")


async def test_digests_are_served_without_a_token(settings: ProjectionsSettings) -> None:
    topic = unique_name("t.digests")
    await create_topics(BOOTSTRAP, [topic, f"{topic}.dlq"])
    try:
        [digest] = examples()
        twice = [
            encode(digest, ce_id=str(uuid.uuid4()), source="/kgo/wallet",
                   topic_for=lambda _e: topic, position=900 + i)
            for i in range(2)
        ]  # fmt: skip
        await produce(twice)
        access = Authenticator(verifier=AccessVerifier(Ed25519PrivateKey.generate().public_key()))
        app = create_app(settings.model_copy(update={"digests_topic": topic}), access=access)
        with TestClient(app) as client:
            assert listed(client) == [digest.model_dump(mode="json")]
            day = client.get("/v1/public/digests/2022-06-10")
            assert day.status_code == 200
            assert day.json()["digest"]["digest_sha256"] == digest.digest_sha256
            assert "kgo audit verify" in day.json()["verify"]
            missing = client.get("/v1/public/digests/2022-06-11")
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("application/problem+json")
            assert missing.json()["code"] == "digest_unknown"
            assert (
                client.get("/v1/public/digests", params={"since": "2022-06-11"}).json()["digests"]
                == []
            )
    finally:
        await delete_topics(BOOTSTRAP, [topic, f"{topic}.dlq"])
