"""A resident signs up on the app: national ID, phone and consent; the code sent to the phone
opens the wallet and signs the resident in."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet.domain.identity import IdentityClaim

from ..conftest import national_id, sealed_claim
from .conftest import TERMS, Residents, bearer

pytestmark = pytest.mark.unit

NID, PHONE = national_id("310010012345"), "0812345678"


async def test_a_signup_confirmed_by_the_code_opens_the_wallet_and_signs_in(
    residents: Residents,
) -> None:
    started = await residents.start_signup(NID, "+66 81 234 5678")

    assert started.status_code == 202
    body = started.json()
    assert set(body) == {"signup_id", "expires_at"}
    sent = residents.notifier.sent[-1]
    assert (sent.to, sent.purpose, len(sent.code)) == (PHONE, "signup", 6)
    confirmed = await residents.post(
        f"/v1/signups/{body['signup_id']}/confirm", {"code": sent.code}
    )
    assert confirmed.status_code == 201, confirmed.text
    session = confirmed.json()
    assert session["token_type"] == "Bearer"
    assert session["access_token"].startswith("kgoa_")
    assert session["refresh_token"].startswith("kgor_")
    own = await residents.api.get(f"/v1/wallets/{session['wallet_id']}", bearer(session))
    assert own.status_code == 200
    assert (own.json()["kind"], own.json()["available"]) == ("resident", 0)


async def test_the_consent_is_sealed_with_the_national_id_never_in_plain_text(
    residents: Residents,
) -> None:
    await residents.sign_up(NID, PHONE)

    claim, sealed = await sealed_claim(residents.api.container, NID)
    assert isinstance(claim, IdentityClaim)
    assert NID not in claim.sealed_personal_data
    assert sealed["national_id"] == NID and sealed["phone"] == PHONE
    assert sealed["consent"]["terms_version"] == TERMS
    assert sealed["consent"]["accepted_at"].startswith("2026-03-02T09:00:00")
    stored = residents.challenges.rows
    assert all(NID not in repr(c) and c.code_hash for c in stored.values())
    assert all(residents.notifier.sent[0].code not in repr(c) for c in stored.values())


async def test_a_wrong_code_is_refused_and_counts_an_attempt(residents: Residents) -> None:
    started = (await residents.start_signup(NID, PHONE)).json()
    code = residents.notifier.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"

    refused = await residents.post(f"/v1/signups/{started['signup_id']}/confirm", {"code": wrong})

    body = residents.api.problem(refused, 409, "code_incorrect")
    assert body["attempts_left"] == 4
    ok = await residents.post(f"/v1/signups/{started['signup_id']}/confirm", {"code": code})
    assert ok.status_code == 201


async def test_five_wrong_codes_kill_the_challenge(residents: Residents) -> None:
    started = (await residents.start_signup(NID, PHONE)).json()
    code = residents.notifier.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    path = f"/v1/signups/{started['signup_id']}/confirm"
    for _ in range(5):
        residents.api.problem(await residents.post(path, {"code": wrong}), 409, "code_incorrect")

    residents.api.problem(
        await residents.post(path, {"code": code}), 409, "code_attempts_exhausted"
    )


async def test_an_expired_code_is_refused(residents: Residents) -> None:
    started = (await residents.start_signup(NID, PHONE)).json()
    code = residents.notifier.last_code(PHONE)

    residents.clock.advance(minutes=5)

    refused = await residents.post(f"/v1/signups/{started['signup_id']}/confirm", {"code": code})
    residents.api.problem(refused, 409, "code_expired")


async def test_a_code_is_used_once_but_the_same_request_again_is_answered_again(
    residents: Residents,
) -> None:
    started = (await residents.start_signup(NID, PHONE)).json()
    code = residents.notifier.last_code(PHONE)
    path = f"/v1/signups/{started['signup_id']}/confirm"

    first = await residents.post(path, {"code": code}, key="confirm-1")
    again = await residents.post(path, {"code": code}, key="confirm-1")
    other = await residents.post(path, {"code": code}, key="confirm-2")

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["wallet_id"] == first.json()["wallet_id"]
    residents.api.problem(other, 409, "code_used")


async def test_the_same_signup_request_again_sends_no_second_code(residents: Residents) -> None:
    first = await residents.start_signup(NID, PHONE, key="s-1")
    again = await residents.start_signup(NID, PHONE, key="s-1")
    other_body = await residents.start_signup(national_id("310010012346"), PHONE, key="s-1")

    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(residents.notifier.sent) == 1
    residents.api.problem(other_body, 409, "idempotency_key_reused")


async def test_a_signup_must_accept_the_current_terms(residents: Residents) -> None:
    old = {"terms_version": "kgo-terms-2020", "accepted": True}
    refused = await residents.post(
        "/v1/signups", {"national_id": NID, "phone": PHONE, "consent": old}
    )
    body = residents.api.problem(refused, 409, "terms_not_current")
    assert body["terms_version"] == TERMS
    declined = {"terms_version": TERMS, "accepted": False}
    residents.api.problem(
        await residents.post(
            "/v1/signups", {"national_id": NID, "phone": PHONE, "consent": declined}
        ),
        422,
        "invalid_request",
    )
    assert residents.notifier.sent == []


@pytest.mark.parametrize(
    "body",
    [
        {"national_id": "1234567890123", "phone": PHONE},  # check digit wrong
        {"national_id": NID, "phone": "021234567"},  # a landline
        {"national_id": NID},
    ],
)
async def test_a_signup_checks_the_national_id_and_phone(
    residents: Residents, body: dict[str, Any]
) -> None:
    body = {**body, "consent": {"terms_version": TERMS, "accepted": True}}
    refused = await residents.post("/v1/signups", body)
    problem = residents.api.problem(refused, 422, "invalid_request")
    assert NID not in refused.text and "1234567890123" not in str(problem)


async def test_a_second_signup_with_the_same_id_or_phone_is_refused_at_confirmation(
    residents: Residents,
) -> None:
    await residents.sign_up(NID, PHONE)

    started = (await residents.start_signup(NID, "0899999999")).json()
    code = residents.notifier.last_code("0899999999")
    refused = await residents.post(f"/v1/signups/{started['signup_id']}/confirm", {"code": code})

    residents.api.problem(refused, 409, "already_registered")


async def test_codes_sent_to_one_phone_are_rate_limited(residents: Residents) -> None:
    for n in range(3):
        assert (await residents.start_signup(NID, PHONE, key=f"k{n}")).status_code == 202

    refused = await residents.start_signup(NID, PHONE, key="k4")

    residents.api.problem(refused, 429, "too_many_requests")
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert len(residents.notifier.sent) == 3


async def test_codes_sent_from_one_address_are_rate_limited(residents: Residents) -> None:
    for n in range(20):
        phone = f"08123400{n:02d}"
        assert (await residents.start_signup(NID, phone)).status_code == 202

    refused = await residents.start_signup(NID, "0812349999")

    residents.api.problem(refused, 429, "too_many_requests")
    assert int(refused.headers["Retry-After"]) <= 3600
    residents.clock.advance(hours=1)
    assert (await residents.start_signup(NID, "0812349999")).status_code == 202


async def test_code_checks_from_one_address_are_rate_limited(residents: Residents) -> None:
    ids = []
    for n in range(7):
        ids.append((await residents.start_signup(NID, f"08123411{n:02d}")).json()["signup_id"])
    tries = [(signup_id, f"{n:06d}") for signup_id in ids for n in range(5)][:30]
    for signup_id, code in tries:
        answer = await residents.post(f"/v1/signups/{signup_id}/confirm", {"code": code})
        assert answer.status_code in (409, 201)

    refused = await residents.post(f"/v1/signups/{ids[-1]}/confirm", {"code": "123456"})
    residents.api.problem(refused, 429, "too_many_requests")
    assert "Retry-After" in refused.headers


async def test_a_signup_needs_an_idempotency_key_but_no_token(residents: Residents) -> None:
    consent = {"terms_version": TERMS, "accepted": True}
    body = {"national_id": NID, "phone": PHONE, "consent": consent}
    answer = await residents.api.client.post("/v1/signups", json=body)
    residents.api.problem(answer, 400, "idempotency_key_required")
    nobody = "/v1/signups/00000000-0000-0000-0000-000000000000/confirm"
    unknown = await residents.post(nobody, {"code": "123456"})
    residents.api.problem(unknown, 404, "challenge_not_found")


class _DownBus:
    async def submit(self, command: Any) -> Any:
        raise OSError("the event store is unreachable")


async def test_a_confirmation_the_store_could_not_decide_is_retried_with_its_key(
    residents: Residents,
) -> None:
    started = (await residents.start_signup(NID, PHONE)).json()
    code = residents.notifier.last_code(PHONE)
    path = f"/v1/signups/{started['signup_id']}/confirm"
    bus, residents.access.bus = residents.access.bus, _DownBus()

    down = await residents.post(path, {"code": code}, key="c-1")

    residents.api.problem(down, 503, "store_unavailable")
    assert down.headers["Retry-After"] == "1"
    residents.access.bus = bus
    retried = await residents.post(path, {"code": code}, key="c-1")
    assert retried.status_code == 201, retried.text


async def signed_up_with(residents: Residents, nid: str, phone: str, **headers: str) -> Any:
    """A whole app sign-up whose confirmation carries ``headers``; its AccountOpened record."""
    from services.wallet.adapters.contracts import published_history

    signup_id = (await residents.start_signup(nid, phone)).json()["signup_id"]
    code = residents.notifier.last_code(phone)
    confirmed = await residents.post(
        f"/v1/signups/{signup_id}/confirm", {"code": code}, headers=headers
    )
    assert confirmed.status_code == 201, confirmed.text
    wallet = confirmed.json()["wallet_id"]
    opened = published_history(residents.api.container.ledger, wallet)[0]
    assert opened["type"] == "kgo.wallet.AccountOpened.v1"
    return opened


async def test_the_account_opened_record_carries_day_keyed_origins_never_the_device_id(
    residents: Residents,
) -> None:
    first = await signed_up_with(residents, NID, PHONE, **{"X-KGO-Device": "phone-1234"})
    assert len(first["origin_network"]) == len(first["origin_device"]) == 32
    assert "phone-1234" not in repr(first)
    # the same device and network an hour later: the same origins; no device id: none
    residents.clock.advance(hours=1)
    second = await signed_up_with(
        residents, national_id("310010012346"), "0812345679", **{"X-KGO-Device": "phone-1234"}
    )
    third = await signed_up_with(residents, national_id("310010012347"), "0812345670")
    assert (second["origin_network"], second["origin_device"]) == (
        first["origin_network"], first["origin_device"],
    )  # fmt: skip
    assert third["origin_network"] == first["origin_network"] and third["origin_device"] is None
    # the next Bangkok day, from the same device and network: nothing links them
    residents.clock.advance(days=1)
    later = await signed_up_with(
        residents, national_id("310010012348"), "0812345671", **{"X-KGO-Device": "phone-1234"}
    )
    assert later["origin_network"] != first["origin_network"]
    assert later["origin_device"] != first["origin_device"]


async def test_a_device_header_that_is_not_a_short_printable_id_is_refused(
    residents: Residents,
) -> None:
    signup_id = (await residents.start_signup(NID, PHONE)).json()["signup_id"]
    code = residents.notifier.last_code(PHONE)
    path = f"/v1/signups/{signup_id}/confirm"
    refused = await residents.post(path, {"code": code}, headers={"X-KGO-Device": "x" * 129})
    assert refused.status_code == 422, refused.text
    assert (await residents.post(path, {"code": code})).status_code == 201
