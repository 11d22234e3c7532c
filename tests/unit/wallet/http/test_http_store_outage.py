"""A store outage answers 503 store_unavailable with Retry-After, never a bug's 500."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

pytestmark = pytest.mark.unit


async def test_an_outage_answers_503_store_unavailable_with_retry_after(
    city: Any, outage_of: Any
) -> None:
    body = await city.pay(30)
    outage = outage_of(city.api.container.ledger, UUID(city.wallet_id))

    refused = await city.api.post("/v1/spends", body, city.service, key="s1")

    city.api.problem(refused, 503, "store_unavailable")
    assert refused.headers["retry-after"] == "1"
    outage.down = False
    again = await city.api.post("/v1/spends", body, city.service, key="s1")
    assert again.status_code == 201, again.text
