"""Every write route refuses every wrong role; tokens bound to a subject act for it only."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

pytestmark = pytest.mark.unit

ROLES = (
    "municipal_admin", "programme_operator", "auditor", "payee", "resident", "service",
    "counter_staff",
)  # fmt: skip
ADMIN, OPERATOR, AUDITOR, PAYEE, RESIDENT, SERVICE, COUNTER = ROLES

#: Who may call each write route: written out here, independently of the code's table.
WRITERS: dict[str, set[str]] = {
    "mint_genesis": {ADMIN},
    "open_budget": {ADMIN},
    "allocate": {ADMIN},
    "give_back": {ADMIN},
    "open_payee": {ADMIN, SERVICE},
    "register_resident": {ADMIN, SERVICE},
    "grant": {OPERATOR, SERVICE},
    # Coins leave a wallet only through a city service carrying the resident's consent.
    "spend": {SERVICE},
    "place_hold": {SERVICE},
    "capture_hold": {SERVICE},
    "release_hold": {SERVICE},
    "payment_code": {RESIDENT},
    "receive_code": {RESIDENT},
    "transit_pass": {RESIDENT},
    "unlink_transit_pass": {RESIDENT},
    "card": {ADMIN, COUNTER},
    "issue_token": {ADMIN},
    "revoke_token": {ADMIN},
}


def write_request(route: str, city: Any) -> tuple[str, str, Any]:
    """A request of ``route`` that a rightful caller could make in the city."""
    hold = f"/v1/wallets/{city.wallet_id}/holds/{uuid4()}"
    payment = {"payee_id": city.shop_id, "amount": 5, "reference": "r",
               "authorisation": {"kind": "payment_code", "code": "12345678"}}  # fmt: skip
    grant = {"programme": "welcome", "wallet_id": city.wallet_id, "amount": 5, "reason": "r",
             "reference": "r"}  # fmt: skip
    payee = {"kind": "operator", "external_ref": "bus", "label": "Bus"}
    resident = {"national_id": "3100600181239", "phone": "0612345678"}
    return {
        "mint_genesis": ("POST", "/v1/treasury/genesis", None),
        "open_budget": ("POST", "/v1/budgets", {"programme": "festival", "label": "Festival"}),
        "allocate": ("POST", "/v1/budgets/welcome/allocations", {"amount": 5}),
        "give_back": ("POST", "/v1/budgets/welcome/returns", {"amount": 5}),
        "open_payee": ("POST", "/v1/payees", payee),
        "register_resident": ("POST", "/v1/residents", resident),
        "grant": ("POST", "/v1/grants", grant),
        "spend": ("POST", "/v1/spends", payment),
        "place_hold": ("POST", "/v1/holds", payment),
        "capture_hold": ("POST", f"{hold}/capture", {"payee_id": city.shop_id}),
        "release_hold": ("POST", f"{hold}/release", {"payee_id": city.shop_id}),
        "payment_code": ("POST", "/v1/payment-codes", None),
        "receive_code": ("POST", "/v1/receive-codes", None),
        "transit_pass": ("POST", "/v1/transit-passes", None),
        "unlink_transit_pass": ("DELETE", "/v1/transit-passes/kgot_made-up-pass", None),
        "card": ("POST", f"/v1/wallets/{city.wallet_id}/cards", {"pin": "2580"}),
        "issue_token": ("POST", "/v1/tokens", {"role": "auditor", "name": "audit-office"}),
        "revoke_token": ("DELETE", f"/v1/tokens/{uuid4()}", None),
    }[route]


async def send(city: Any, route: str, headers: dict[str, str]) -> Any:
    method, path, body = write_request(route, city)
    headers = {**headers, "Idempotency-Key": uuid4().hex}
    if body is None:
        return await city.api.client.request(method, path, headers=headers)
    return await city.api.client.request(method, path, json=body, headers=headers)


async def token_of(city: Any, role: str) -> dict[str, str]:
    tokens = {
        ADMIN: city.admin, OPERATOR: city.operator, AUDITOR: city.auditor,
        PAYEE: city.shop, RESIDENT: city.resident, SERVICE: city.service, COUNTER: city.counter,
    }  # fmt: skip
    return tokens[role]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("route", "role"),
    [(route, role) for route, allowed in WRITERS.items() for role in ROLES if role not in allowed],
)
async def test_a_write_refuses_every_wrong_role(city: Any, route: str, role: str) -> None:
    before = await city.api.get(f"/v1/wallets/{city.wallet_id}", city.admin)

    response = await send(city, route, await token_of(city, role))

    city.api.problem(response, 403, "forbidden")
    assert (await city.api.get(f"/v1/wallets/{city.wallet_id}", city.admin)).json() == before.json()


@pytest.mark.parametrize(
    ("route", "role"), [(route, role) for route, allowed in WRITERS.items() for role in allowed]
)
async def test_a_write_lets_its_roles_through(city: Any, route: str, role: str) -> None:
    response = await send(city, route, await token_of(city, role))
    # Past the gate: decided by the ledger (some refuse: genesis is done, the hold is made up).
    assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize("route", list(WRITERS))
@pytest.mark.parametrize(
    "authorization", [None, "Bearer kgo_not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer"]
)
async def test_no_write_without_a_valid_token(
    city: Any, route: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await send(city, route, headers)
    city.api.problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


READERS: dict[str, set[str]] = {
    "/v1/treasury/supply": {ADMIN, AUDITOR},
    "/v1/budgets": {ADMIN, OPERATOR, AUDITOR},
    "/v1/budgets/welcome": {ADMIN, OPERATOR, AUDITOR},
    "/v1/tokens": {ADMIN, AUDITOR},
    "wallet": {ADMIN, AUDITOR, RESIDENT, SERVICE},  # the city resident's own wallet
}


@pytest.mark.parametrize(("read", "role"), [(read, role) for read in READERS for role in ROLES])
async def test_reads_by_role(city: Any, read: str, role: str) -> None:
    path = f"/v1/wallets/{city.wallet_id}" if read == "wallet" else read
    response = await city.api.get(path, await token_of(city, role))
    if role in READERS[read]:
        assert response.status_code == 200, response.text
    else:
        city.api.problem(response, 403, "forbidden")


@pytest.mark.parametrize("path", [*list(READERS)[:-1], f"/v1/wallets/{uuid4()}"])
async def test_no_read_without_a_token(city: Any, path: str) -> None:
    city.api.problem(await city.api.client.get(path), 401, "unauthenticated")


async def test_a_revoked_token_is_refused_at_once(city: Any) -> None:
    headers = await city.api.token(AUDITOR, name="temp")
    assert (await city.api.get("/v1/treasury/supply", headers)).status_code == 200
    [record] = [r for r in await city.api.tokens.list() if r.name == "temp"]

    revoked = await city.api.client.delete(
        f"/v1/tokens/{record.token_id}", headers={**city.admin, "Idempotency-Key": "revoke-1"}
    )

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    city.api.problem(await city.api.get("/v1/treasury/supply", headers), 401, "unauthenticated")


async def test_a_resident_reads_only_its_own_wallet_and_learns_nothing_of_others(city: Any) -> None:
    other = await city.api.post(
        "/v1/residents", {"national_id": "3100600181239", "phone": "0612345678"}, city.admin
    )
    for wallet_id in (other.json()["wallet_id"], uuid4(), city.shop_id):
        response = await city.api.get(f"/v1/wallets/{wallet_id}", city.resident)
        city.api.problem(response, 403, "forbidden")  # the same whether it exists or not


async def test_a_payee_reads_its_own_account(city: Any) -> None:
    response = await city.api.get(f"/v1/wallets/{city.shop_id}", city.shop)
    assert response.status_code == 200
    assert response.json()["kind"] == "shop"


async def test_a_payee_token_cannot_debit_a_wallet_even_with_a_valid_code(city: Any) -> None:
    """Payee tokens lost their debit rights: not for themselves, not with the resident's own
    payment code; the code stays good for the merchant service."""
    code = await city.payment_code()
    body = await city.pay(5, code=code)
    for path in ("/v1/spends", "/v1/holds"):
        city.api.problem(await city.api.post(path, body, city.shop), 403, "forbidden")
    hold = await city.api.post("/v1/holds", body, city.service)
    hold_path = f"/v1/wallets/{city.wallet_id}/holds/{hold.json()['hold_id']}"
    for action, payload in (("capture", {"payee_id": city.shop_id}), ("release", None)):
        refused = await city.api.post(f"{hold_path}/{action}", payload, city.shop)
        city.api.problem(refused, 403, "forbidden")
    wallet = (await city.api.get(f"/v1/wallets/{city.wallet_id}", city.admin)).json()
    assert (wallet["available"], wallet["held"]) == (995, 5)


async def test_a_programme_operator_bound_to_a_programme_grants_only_from_it(city: Any) -> None:
    await city.api.post("/v1/budgets", {"programme": "festival", "label": "Festival"}, city.admin)
    await city.api.post("/v1/budgets/festival/allocations", {"amount": 100}, city.admin)
    grant = {"wallet_id": city.wallet_id, "amount": 5, "reason": "r", "reference": "r"}

    own = await city.api.post("/v1/grants", {**grant, "programme": "welcome"}, city.operator)
    other = await city.api.post("/v1/grants", {**grant, "programme": "festival"}, city.operator)
    unbound = await city.api.token(OPERATOR, name="all-programmes")
    any_programme = await city.api.post("/v1/grants", {**grant, "programme": "festival"}, unbound)

    assert own.status_code == 201 and any_programme.status_code == 201
    city.api.problem(other, 403, "forbidden")
    city.api.problem(await city.api.get("/v1/budgets/festival", city.operator), 403, "forbidden")


async def test_a_bound_programme_operator_lists_only_its_budget(city: Any) -> None:
    city.api.directory.budget_rows = [{"programme": "welcome"}, {"programme": "festival"}]
    mine = await city.api.get("/v1/budgets", city.operator)
    every = await city.api.get("/v1/budgets", city.auditor)
    assert mine.json() == {"budgets": [{"programme": "welcome"}]}
    assert len(every.json()["budgets"]) == 2
