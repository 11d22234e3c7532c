"""A resident without a smartphone registers at a municipal counter, and later takes the
wallet over with a phone of their own."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet.domain.identity import IdentityClaim

from ..conftest import national_id, sealed_claim
from .conftest import TERMS, Residents, bearer

pytestmark = pytest.mark.unit

NID, PHONE = national_id("310010012345"), "0812345678"
CONSENT = {"terms_version": TERMS, "accepted": True}


async def _at_counter(residents: Residents, body: dict[str, Any], **kw: Any) -> Any:
    staff = await residents.api.token("counter_staff", name="counter-3")
    return await residents.api.post("/v1/residents/assisted", body, staff, **kw)


async def test_counter_staff_register_a_resident_without_a_phone(residents: Residents) -> None:
    body = {"national_id": NID, "full_name": "Somchai Jaidee", "consent": CONSENT}

    registered = await _at_counter(residents, body)

    assert registered.status_code == 201, registered.text
    wallet_id = registered.json()["wallet_id"]
    claim, sealed = await sealed_claim(residents.api.container, NID)
    assert isinstance(claim, IdentityClaim) and str(claim.wallet_id) == wallet_id
    assert sealed["full_name"] == "Somchai Jaidee"
    assert sealed["consent"]["channel"] == "counter"
    assert sealed["consent"]["recorded_by"] == "counter_staff:counter-3"
    assert residents.notifier.sent == []


async def test_a_counter_registration_is_idempotent(residents: Residents) -> None:
    staff = await residents.api.token("counter_staff", name="counter-3")
    body = {"national_id": NID, "consent": CONSENT}

    first = await residents.api.post("/v1/residents/assisted", body, staff, key="c-1")
    residents.clock.advance(seconds=30)
    again = await residents.api.post("/v1/residents/assisted", body, staff, key="c-1")

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["wallet_id"] == first.json()["wallet_id"]


@pytest.mark.parametrize("role", ["resident", "service", "payee", "auditor"])
async def test_only_counter_staff_and_administrators_register_at_the_counter(
    residents: Residents, role: str
) -> None:
    subject = "00000000-0000-0000-0000-000000000001" if role in ("resident", "payee") else None
    headers = await residents.api.token(role, subject)
    body = {"national_id": NID, "consent": CONSENT}
    refused = await residents.api.post("/v1/residents/assisted", body, headers)
    residents.api.problem(refused, 403, "forbidden")


async def test_the_resident_takes_the_wallet_over_with_a_phone(residents: Residents) -> None:
    staff = await residents.api.token("counter_staff", name="counter-3")
    wallet_id = (
        await residents.api.post(
            "/v1/residents/assisted", {"national_id": NID, "consent": CONSENT}, staff
        )
    ).json()["wallet_id"]

    started = await residents.api.post(
        f"/v1/wallets/{wallet_id}/phone-links", {"phone": PHONE}, staff
    )
    assert started.status_code == 202, started.text
    code = residents.notifier.last_code(PHONE)
    assert residents.notifier.sent[-1].purpose == "phone_link"
    linked = await residents.post(
        f"/v1/phone-links/{started.json()['link_id']}/confirm", {"code": code}
    )

    assert linked.status_code == 201, linked.text
    session = linked.json()
    assert session["wallet_id"] == wallet_id
    assert (await residents.api.get(f"/v1/wallets/{wallet_id}", bearer(session))).status_code == 200
    # From now on the phone signs in to that wallet, and the wallet takes no other phone.
    assert (await residents.sign_in(PHONE))["wallet_id"] == wallet_id
    again = await residents.api.post(
        f"/v1/wallets/{wallet_id}/phone-links", {"phone": "0899999999"}, staff
    )
    residents.api.problem(again, 409, "phone_already_linked")


async def test_a_wallet_with_a_phone_takes_no_other(residents: Residents) -> None:
    session = await residents.sign_up(NID, PHONE)
    staff = await residents.api.token("counter_staff")

    refused = await residents.api.post(
        f"/v1/wallets/{session['wallet_id']}/phone-links", {"phone": "0899999999"}, staff
    )

    residents.api.problem(refused, 409, "phone_already_linked")
    missing = await residents.api.post(
        "/v1/wallets/00000000-0000-0000-0000-000000000001/phone-links", {"phone": PHONE}, staff
    )
    residents.api.problem(missing, 404, "wallet_not_found")


async def test_a_phone_already_registered_is_not_linked_to_a_second_wallet(
    residents: Residents,
) -> None:
    await residents.sign_up(national_id("310010012346"), PHONE)
    staff = await residents.api.token("counter_staff")
    wallet_id = (await _at_counter(residents, {"national_id": NID, "consent": CONSENT})).json()[
        "wallet_id"
    ]
    started = await residents.api.post(
        f"/v1/wallets/{wallet_id}/phone-links", {"phone": PHONE}, staff
    )
    code = residents.notifier.last_code(PHONE)

    refused = await residents.post(
        f"/v1/phone-links/{started.json()['link_id']}/confirm", {"code": code}
    )

    residents.api.problem(refused, 409, "already_registered")


async def test_a_counter_registration_with_a_phone_signs_in_by_it(residents: Residents) -> None:
    registered = await _at_counter(
        residents, {"national_id": NID, "phone": PHONE, "consent": CONSENT}
    )
    assert registered.status_code == 201
    assert (await residents.sign_in(PHONE))["wallet_id"] == registered.json()["wallet_id"]
