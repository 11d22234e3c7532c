"""Every body is checked at the edge; every error is a problem document with a stable code."""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

import pytest

from services.wallet.domain.identity import IdentityClaim

from .conftest import sealed_claim

pytestmark = pytest.mark.unit


def spend(city: Any, code: str = "00000000", **changes: Any) -> dict[str, Any]:
    body = {"payee_id": city.shop_id, "amount": 10, "reference": "r1",
            "authorisation": {"kind": "payment_code", "code": code}}  # fmt: skip
    return {k: v for k, v in (body | changes).items() if v is not ...}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("amount", 1.5, "int_type"),
        ("amount", 10.0, "int_type"),
        ("amount", "5", "int_type"),
        ("amount", True, "int_type"),
        ("amount", 0, "greater_than"),
        ("amount", -3, "greater_than"),
        ("amount", 1_000_001, "less_than_equal"),
        ("amount", ..., "missing"),
        ("wallet_id", "not-a-uuid", "uuid_parsing"),
        ("payee_id", 42, "uuid_type"),
        ("reference", "", "string_too_short"),
        ("reference", "   ", "string_too_short"),
        ("reference", "x" * 201, "string_too_long"),
        ("surprise", "field", "extra_forbidden"),
        ("authorisation", ..., "missing"),
    ],
)
async def test_a_bad_field_is_named_in_the_errors(
    city: Any, field: str, value: Any, error: str
) -> None:
    response = await city.api.post("/v1/spends", spend(city, **{field: value}), city.service)

    problem = city.api.problem(response, 422, "invalid_request")
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["body", field], error)]


async def test_the_longest_reference_is_accepted(city: Any) -> None:
    body = spend(city, await city.payment_code(), reference="x" * 200)
    response = await city.api.post("/v1/spends", body, city.service)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("body", [b'{"amount": 5', b"{'amount': 5}", b"", b"nul"])
async def test_a_body_that_is_not_json_is_400_or_422_never_500(city: Any, body: bytes) -> None:
    response = await city.api.client.post(
        "/v1/spends", content=body,
        headers={**city.service, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )  # fmt: skip
    code = "malformed_json" if body else "invalid_request"
    city.api.problem(response, 400 if body else 422, code)


@pytest.mark.parametrize("body", [[1, 2], "spend", 5, None])
async def test_a_body_that_is_not_an_object_is_422(city: Any, body: Any) -> None:
    response = await city.api.post("/v1/spends", body, city.service)
    city.api.problem(response, 422, "invalid_request")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_sent_as_anything_but_json_is_415(city: Any, content_type: str | None) -> None:
    headers = {**city.service, "Idempotency-Key": "k"}
    if content_type:
        headers["Content-Type"] = content_type
    response = await city.api.client.post("/v1/spends", content=b"amount=5", headers=headers)
    city.api.problem(response, 415, "unsupported_media_type")


async def test_json_with_a_charset_or_a_json_suffix_is_json(city: Any) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        code = await city.payment_code()
        response = await city.api.client.post(
            "/v1/spends", content=f'{{"payee_id": "{city.shop_id}", "amount": 1, "reference": '
            f'"r", "authorisation": {{"kind": "payment_code", "code": "{code}"}}}}'.encode(),
            headers={**city.service, "Idempotency-Key": uuid4().hex, "Content-Type": content_type},
        )  # fmt: skip
        assert response.status_code == 201, response.text


async def test_a_write_without_an_idempotency_key_is_400(city: Any) -> None:
    response = await city.api.client.post("/v1/spends", json=spend(city), headers=city.service)
    city.api.problem(response, 400, "idempotency_key_required")


@pytest.mark.parametrize("key", ["two words", "x" * 129, "ค่า".encode(), "tab\there", ""])
async def test_an_idempotency_key_is_1_to_128_visible_characters(
    city: Any, key: str | bytes
) -> None:
    headers: dict[str, Any] = {**city.service, "Idempotency-Key": key}
    response = await city.api.client.post("/v1/spends", json=spend(city), headers=headers)
    city.api.problem(response, 400, "invalid_idempotency_key")


async def test_unknown_routes_and_methods_are_problems_too(city: Any) -> None:
    city.api.problem(await city.api.get("/v1/nowhere", city.admin), 404, "not_found")
    response = await city.api.client.put("/v1/spends", headers=city.admin)
    city.api.problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize("programme", ["W", "welcome programme", "Welcome", "x" * 41, "ไทย"])
async def test_a_programme_is_a_slug(city: Any, programme: str) -> None:
    body = {"programme": programme, "label": "A programme"}
    city.api.problem(await city.api.post("/v1/budgets", body, city.admin), 422, "invalid_request")


async def test_a_programme_in_the_path_is_a_slug_too(city: Any) -> None:
    response = await city.api.post(
        "/v1/budgets/Not%20A%20Slug/allocations", {"amount": 5}, city.admin
    )
    city.api.problem(response, 422, "invalid_request")


@pytest.mark.parametrize("ttl", [4, 86_401, 60.0, "60"])
async def test_a_hold_lives_5_seconds_to_a_day(city: Any, ttl: Any) -> None:
    response = await city.api.post("/v1/holds", spend(city, ttl_seconds=ttl), city.service)
    city.api.problem(response, 422, "invalid_request")


@pytest.mark.parametrize(
    "national_id", ["1234567890122", "123456789012", "12345678901211", "abcdefghijklm"]
)
async def test_a_national_id_must_carry_its_check_digit(
    city: Any, national_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"national_id": national_id, "phone": "0891234567", "full_name": "Somchai Jaidee"}

    response = await city.api.post("/v1/residents", body, city.admin)

    problem = city.api.problem(response, 422, "invalid_request")
    assert [e["loc"] for e in problem["errors"]] == [["body", "national_id"]]
    for secret in (national_id, "0891234567", "Somchai"):
        assert secret not in response.text
        assert secret not in caplog.text


async def test_personal_data_is_sealed_and_found_only_by_its_blind_index(
    city: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {
        "national_id": "1-2345-67890-12-1", "phone": "+66 91 234 5678",
        "full_name": "Somchai Jaidee", "birth_date": "1990-06-09",
    }  # fmt: skip

    response = await city.api.post("/v1/residents", body, city.admin)

    assert response.status_code == 201, response.text
    claim, sealed = await sealed_claim(city.api.container, "1234567890121")
    assert isinstance(claim, IdentityClaim)
    assert str(claim.wallet_id) == response.json()["wallet_id"]
    assert sealed == {
        "national_id": "1234567890121", "phone": "0912345678",
        "full_name": "Somchai Jaidee", "birth_date": "1990-06-09",
    }  # fmt: skip
    assert "1234567890121" not in caplog.text and "Somchai" not in caplog.text


async def test_one_wallet_per_phone_however_it_is_written(city: Any) -> None:
    # The city's resident registered with 081-234-5678.
    body = {"national_id": "3100600181239", "phone": "+66 81 234 5678"}
    response = await city.api.post("/v1/residents", body, city.admin)
    city.api.problem(response, 409, "already_registered")


@pytest.mark.parametrize("birth_date", ["2999-01-01", "1899-12-31", "09/06/1990"])
async def test_a_birth_date_is_a_past_iso_date(city: Any, birth_date: str) -> None:
    body = {"national_id": "3100600181239", "phone": "0612345678", "birth_date": birth_date}
    response = await city.api.post("/v1/residents", body, city.admin)
    problem = city.api.problem(response, 422, "invalid_request")
    assert [e["loc"] for e in problem["errors"]] == [["body", "birth_date"]]


async def test_the_openapi_document_describes_the_api(city: Any) -> None:
    document = (await city.api.client.get("/openapi.json")).json()
    assert document["info"]["title"] == "KGO wallet"
    assert "/v1/spends" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    key = document["paths"]["/v1/spends"]["post"]["parameters"][0]
    assert (key["name"], key["in"], key["required"]) == ("Idempotency-Key", "header", True)
    spend_schema = document["components"]["schemas"]["SpendRequest"]
    assert spend_schema["additionalProperties"] is False


@pytest.mark.parametrize("text", ["noodles\x00", "line\nbreak", "bell\x07"])
async def test_control_characters_are_refused_in_text(city, text):
    bad = await city.api.post(
        "/v1/payees", {"kind": "shop", "external_ref": "shop-x", "label": text}, city.admin
    )
    city.api.problem(bad, 422, "invalid_request")
