"""API tokens over HTTP: issued once, listed without secrets, revoked at once."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

pytestmark = pytest.mark.unit


async def test_an_issued_token_works_at_once_and_is_shown_once(city: Any) -> None:
    issued = await city.api.post(
        "/v1/tokens", {"role": "payee", "name": "till-8", "subject": city.shop_id}, city.admin
    )

    body = issued.json()
    assert issued.status_code == 201
    assert (body["role"], body["name"], body["subject"], body["revoked_at"]) == (
        "payee", "till-8", city.shop_id, None,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await city.api.get(f"/v1/wallets/{city.shop_id}", headers)).status_code == 200
    listed = await city.api.get("/v1/tokens", city.auditor)
    assert body["token_id"] in {t["token_id"] for t in listed.json()}
    assert body["token"] not in listed.text and "token" not in listed.json()[0]


async def test_a_revoked_token_is_listed_only_on_request(city: Any) -> None:
    issued = (
        await city.api.post("/v1/tokens", {"role": "auditor", "name": "a"}, city.admin)
    ).json()
    path = f"/v1/tokens/{issued['token_id']}"

    first = await city.api.client.delete(path, headers={**city.admin, "Idempotency-Key": "r1"})
    second = await city.api.client.delete(path, headers={**city.admin, "Idempotency-Key": "r2"})

    assert first.json()["revoked_at"] == second.json()["revoked_at"] is not None
    active = (await city.api.get("/v1/tokens", city.admin)).json()
    every = (await city.api.get("/v1/tokens?include_revoked=true", city.admin)).json()
    assert issued["token_id"] not in {t["token_id"] for t in active}
    assert issued["token_id"] in {t["token_id"] for t in every}


async def test_revoking_no_token_is_404(city: Any) -> None:
    response = await city.api.client.delete(
        f"/v1/tokens/{uuid4()}", headers={**city.admin, "Idempotency-Key": "r1"}
    )
    city.api.problem(response, 404, "token_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"role": "payee", "name": "till"},  # a payee token names its account
        {"role": "payee", "name": "till", "subject": "shop-001"},  # ...by its id
        {"role": "resident", "name": "somchai"},
        {"role": "programme_operator", "name": "op", "subject": "Welcome Programme"},
        {"role": "superuser", "name": "root"},
        {"role": "auditor", "name": "two words"},
        {"role": "auditor", "name": ""},
        {"role": "auditor", "name": "a", "expires": "never"},
    ],
)
async def test_a_token_fits_its_role(city: Any, body: dict[str, Any]) -> None:
    response = await city.api.post("/v1/tokens", body, city.admin)
    city.api.problem(response, 422, "invalid_request")


async def test_an_account_subject_is_normalised(city: Any) -> None:
    body = {"role": "resident", "name": "r", "subject": city.wallet_id.upper()}
    issued = await city.api.post("/v1/tokens", body, city.admin)
    assert issued.json()["subject"] == city.wallet_id
