"""A resident signs in with the phone and a code; the session refreshes, rotating its refresh
token; a rotated one presented again revokes the session."""

from __future__ import annotations

import pytest

from ..conftest import national_id
from .conftest import Residents, bearer

pytestmark = pytest.mark.unit

NID, PHONE = national_id("310010012345"), "0812345678"


async def test_sign_in_by_phone_gives_a_token_bound_to_the_wallet(residents: Residents) -> None:
    signed_up = await residents.sign_up(NID, PHONE)

    session = await residents.sign_in("+66812345678")

    assert session["wallet_id"] == signed_up["wallet_id"]
    assert residents.notifier.sent[-1].purpose == "sign_in"
    headers = bearer(session)
    own = await residents.api.get(f"/v1/wallets/{session['wallet_id']}", headers)
    assert own.status_code == 200
    other = await residents.api.get("/v1/wallets/00000000-0000-0000-0000-000000000001", headers)
    residents.api.problem(other, 403, "forbidden")


async def test_an_access_token_lives_fifteen_minutes(residents: Residents) -> None:
    session = await residents.sign_up(NID, PHONE)
    path = f"/v1/wallets/{session['wallet_id']}"

    residents.clock.advance(minutes=14, seconds=59)
    assert (await residents.api.get(path, bearer(session))).status_code == 200
    residents.clock.advance(seconds=1)
    residents.api.problem(await residents.api.get(path, bearer(session)), 401, "unauthenticated")


async def test_an_unknown_phone_is_answered_alike_but_gets_no_code(residents: Residents) -> None:
    await residents.sign_up(NID, PHONE)
    sent_before = len(residents.notifier.sent)

    known = await residents.post("/v1/sessions", {"phone": PHONE})
    unknown = await residents.post("/v1/sessions", {"phone": "0899999999"})

    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json()) == {"challenge_id", "expires_at"}
    assert [s.to for s in residents.notifier.sent[sent_before:]] == [PHONE]
    confirm = f"/v1/sessions/{unknown.json()['challenge_id']}/confirm"
    refused = await residents.post(confirm, {"code": "123456"})
    residents.api.problem(refused, 409, "code_incorrect")


async def test_an_unknown_phone_is_rate_limited_like_a_known_one(residents: Residents) -> None:
    for _ in range(3):
        assert (await residents.post("/v1/sessions", {"phone": "0899999999"})).status_code == 202
    refused = await residents.post("/v1/sessions", {"phone": "0899999999"})
    residents.api.problem(refused, 429, "too_many_requests")


async def test_a_sign_in_code_does_not_confirm_a_signup(residents: Residents) -> None:
    await residents.sign_up(NID, PHONE)
    started = (await residents.post("/v1/sessions", {"phone": PHONE})).json()
    code = residents.notifier.last_code(PHONE)

    wrong_flow = await residents.post(
        f"/v1/signups/{started['challenge_id']}/confirm", {"code": code}
    )

    residents.api.problem(wrong_flow, 404, "challenge_not_found")


async def test_refresh_rotates_and_reuse_revokes_the_family(residents: Residents) -> None:
    first = await residents.sign_up(NID, PHONE)

    residents.clock.advance(minutes=20)
    second = await residents.post("/v1/sessions/refresh", {"refresh_token": first["refresh_token"]})

    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["wallet_id"] == first["wallet_id"]
    assert rotated["refresh_token"] != first["refresh_token"]
    path = f"/v1/wallets/{first['wallet_id']}"
    assert (await residents.api.get(path, bearer(rotated))).status_code == 200
    # The first refresh token again: someone holds a copy. The whole session goes.
    reused = await residents.post("/v1/sessions/refresh", {"refresh_token": first["refresh_token"]})
    residents.api.problem(reused, 401, "refresh_token_reused")
    after = await residents.post(
        "/v1/sessions/refresh", {"refresh_token": rotated["refresh_token"]}
    )
    residents.api.problem(after, 401, "refresh_token_invalid")
    # Another sign-in starts a new family.
    again = await residents.sign_in(PHONE)
    refreshed = await residents.post(
        "/v1/sessions/refresh", {"refresh_token": again["refresh_token"]}
    )
    assert refreshed.status_code == 200


async def test_the_same_refresh_again_is_answered_again(residents: Residents) -> None:
    first = await residents.sign_up(NID, PHONE)
    body = {"refresh_token": first["refresh_token"]}

    lost = await residents.post("/v1/sessions/refresh", body, key="r-1")
    retried = await residents.post("/v1/sessions/refresh", body, key="r-1")

    assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
    # The answer the client never saw is revoked; the one it got works.
    lost_token = {"refresh_token": lost.json()["refresh_token"]}
    residents.api.problem(
        await residents.post("/v1/sessions/refresh", lost_token), 401, "refresh_token_invalid"
    )
    kept = {"refresh_token": retried.json()["refresh_token"]}
    assert (await residents.post("/v1/sessions/refresh", kept)).status_code == 200


async def test_a_refresh_token_expires(residents: Residents) -> None:
    first = await residents.sign_up(NID, PHONE)
    residents.clock.advance(days=30)
    refused = await residents.post(
        "/v1/sessions/refresh", {"refresh_token": first["refresh_token"]}
    )
    residents.api.problem(refused, 401, "refresh_token_invalid")


@pytest.mark.parametrize("token", ["kgor_nope", "kgo_something", "x" * 150])
async def test_a_refresh_token_never_issued_is_refused(residents: Residents, token: str) -> None:
    refused = await residents.post("/v1/sessions/refresh", {"refresh_token": token})
    residents.api.problem(refused, 401, "refresh_token_invalid")


async def test_an_administrator_still_mints_a_resident_token_for_support(
    residents: Residents,
) -> None:
    session = await residents.sign_up(NID, PHONE)
    admin = await residents.api.token("municipal_admin")
    minted = await residents.api.post(
        "/v1/tokens", {"role": "resident", "name": "support-1", "subject": session["wallet_id"]},
        admin,
    )  # fmt: skip
    assert minted.status_code == 201
    headers = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert (
        await residents.api.get(f"/v1/wallets/{session['wallet_id']}", headers)
    ).status_code == 200


async def test_signing_out_ends_the_session(residents: Residents) -> None:
    first = await residents.sign_up(NID, PHONE)
    rotated = (
        await residents.post("/v1/sessions/refresh", {"refresh_token": first["refresh_token"]})
    ).json()

    out = await residents.post("/v1/sessions/sign-out", {"refresh_token": first["refresh_token"]})
    unknown = await residents.post("/v1/sessions/sign-out", {"refresh_token": "kgor_never"})

    assert out.status_code == unknown.status_code == 204
    refused = await residents.post(
        "/v1/sessions/refresh", {"refresh_token": rotated["refresh_token"]}
    )
    residents.api.problem(refused, 401, "refresh_token_invalid")
