"""API tokens over HTTP: issued once, listed without secrets, revoked at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from kgo_runtime.access import Role

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


async def test_another_service_learns_what_a_presented_token_stands_for(city: Any) -> None:
    api = city.api
    introspect = "/v1/tokens/introspect"
    operator = city.operator["Authorization"].removeprefix("Bearer ")
    answer = await api.client.post(introspect, json={"token": operator}, headers=city.service)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"token_id": None} == {
        "active": True, "token_id": None, "role": "programme_operator",
        "name": answer.json()["name"], "subject": "welcome",
    }  # fmt: skip
    signed = api.container.access.issue(
        Role.RESIDENT, "resident", city.wallet_id, timedelta(minutes=1)
    )
    answer = await api.client.post(introspect, json={"token": signed.token}, headers=city.service)
    assert answer.json()["subject"] == city.wallet_id
    for unknown in ("kgo_nope", signed.token[:-3] + "AAA"):
        answer = await api.client.post(introspect, json={"token": unknown}, headers=city.service)
        assert answer.json() == {
            "active": False, "token_id": None, "role": None, "name": None, "subject": None
        }  # fmt: skip
    refused = await api.client.post(introspect, json={"token": operator}, headers=city.shop)
    api.problem(refused, 403, "forbidden")


async def test_a_signed_access_token_works_on_the_wallet(city: Any) -> None:
    api = city.api
    signed = api.container.access.issue(
        Role.RESIDENT, "resident", city.wallet_id, timedelta(minutes=1)
    )
    answer = await api.get(
        f"/v1/wallets/{city.wallet_id}", {"Authorization": f"Bearer {signed.token}"}
    )
    assert answer.status_code == 200
    api.problem(
        await api.get(f"/v1/wallets/{city.wallet_id}", {"Authorization": "Bearer kgoa_x.y"}),
        401,
        "unauthenticated",
    )
