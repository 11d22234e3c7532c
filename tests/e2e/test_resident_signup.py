"""A resident's own way in, on a running `kgo serve wallet`: sign up on the phone, read the
code from the SMS outbox (the dev notifier's file), confirm, read the wallet with the access
token, refresh, sign in again; a wrong code, a reused code and a rate limit on the way. The
wallet's topic then carries the new account and nothing personal."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import unique_name

from .conftest import WalletProcess, free_port
from .test_wallet_journey import read_all, thai_national_id

pytestmark = pytest.mark.e2e

TERMS = "kgo-terms-e2e"


@pytest.fixture
def wallet_with_outbox(topic: str, tmp_path: Path) -> Iterator[tuple[WalletProcess, Path]]:
    schema, port = unique_name("e2e_wallet"), free_port()
    outbox = tmp_path / "outbox" / "sms.jsonl"
    env = {
        **os.environ,
        "WALLET_DATABASE_SCHEMA": schema,
        "WALLET_EVENTS_TOPIC": topic,
        "WALLET_HTTP_PORT": str(port),
        "WALLET_SMS_OUTBOX": str(outbox),
        "WALLET_TERMS_VERSION": TERMS,
        "WALLET_CODE_SENDS_PER_PHONE": "3",
    }
    process = WalletProcess(f"http://127.0.0.1:{port}", env, topic, tmp_path / "wallet.log")
    process.start()
    yield process, outbox
    process.stop()
    with psycopg.connect(InfraSettings().database_url("wallet"), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def last_code(outbox: Path, phone: str, purpose: str) -> str:
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    sent = [s for s in lines if s["to"] == phone and s["purpose"] == purpose]
    assert sent, lines
    return str(sent[-1]["code"])


async def post(client: httpx.AsyncClient, path: str, body: Any, **headers: str) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": uuid4().hex, **headers})


async def test_a_resident_signs_up_signs_in_and_refreshes(
    wallet_with_outbox: tuple[WalletProcess, Path],
) -> None:
    wallet, outbox = wallet_with_outbox
    nid, phone = thai_national_id("320010012345"), "0861234567"
    async with httpx.AsyncClient(base_url=wallet.url, timeout=30) as client:
        consent = {"terms_version": TERMS, "accepted": True}
        started = await post(
            client, "/v1/signups", {"national_id": nid, "phone": phone, "consent": consent}
        )
        assert started.status_code == 202, started.text
        confirm = f"/v1/signups/{started.json()['signup_id']}/confirm"
        code = last_code(outbox, phone, "signup")

        wrong = await post(client, confirm, {"code": "000000" if code != "000000" else "111111"})
        assert (wrong.status_code, wrong.json()["code"]) == (409, "code_incorrect")
        confirmed = await post(client, confirm, {"code": code})
        assert confirmed.status_code == 201, confirmed.text
        reused = await post(client, confirm, {"code": code})
        assert (reused.status_code, reused.json()["code"]) == (409, "code_used")

        session = confirmed.json()
        wallet_id = session["wallet_id"]
        own = await client.get(
            f"/v1/wallets/{wallet_id}",
            headers={"Authorization": f"Bearer {session['access_token']}"},
        )
        assert own.status_code == 200 and own.json()["kind"] == "resident"

        refreshed = await post(
            client, "/v1/sessions/refresh", {"refresh_token": session["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        fresh = refreshed.json()
        own = await client.get(
            f"/v1/wallets/{wallet_id}", headers={"Authorization": f"Bearer {fresh['access_token']}"}
        )
        assert own.status_code == 200

        sign_in = await post(client, "/v1/sessions", {"phone": "+66 86 123 4567"})
        assert sign_in.status_code == 202, sign_in.text
        code = last_code(outbox, phone, "sign_in")
        signed_in = await post(
            client, f"/v1/sessions/{sign_in.json()['challenge_id']}/confirm", {"code": code}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["wallet_id"] == wallet_id

        # Three codes per phone per window: the signup's, the sign-in's, one more.
        assert (await post(client, "/v1/sessions", {"phone": phone})).status_code == 202
        limited = await post(client, "/v1/sessions", {"phone": phone})
        assert (limited.status_code, limited.json()["code"]) == (429, "too_many_requests")
        assert int(limited.headers["Retry-After"]) > 0

    records = await read_all(wallet.topic, expected=1)
    opened = [json.loads(r.value) for r in records]
    assert any(r.get("account_id") == wallet_id for r in (e.get("data", e) for e in opened))
    published = b"".join(r.value for r in records)
    # (A six-digit code could appear by chance in a timestamp's microseconds: not checked.)
    for secret in (nid.encode(), phone.encode(), phone[1:].encode(), TERMS.encode()):
        assert secret not in published
