"""A resident's rights over their data, on a running `kgo serve wallet`: sign up on the phone,
download everything the wallet holds (personal data and movements), be erased by an
administrator with `kgo wallet erase`, download again (erased, nothing personal), and the
wallet's topic says so with `ResidentErased` — pseudonymous, like everything on it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kgo_runtime.settings import PROJECT_ROOT

from .conftest import WalletProcess
from .test_resident_signup import TERMS, last_code, post
from .test_resident_signup import wallet_with_outbox as wallet_with_outbox
from .test_wallet_journey import read_all, thai_national_id

pytestmark = pytest.mark.e2e


def kgo(wallet: WalletProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "wallet", *args],
        env=wallet.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_sign_up_download_erase_download_again(
    wallet_with_outbox: tuple[WalletProcess, Path],
) -> None:
    wallet, outbox = wallet_with_outbox
    nid, phone = thai_national_id("340020012345"), "0871234567"
    async with httpx.AsyncClient(base_url=wallet.url, timeout=30) as client:
        consent = {"terms_version": TERMS, "accepted": True}
        started = await post(
            client, "/v1/signups", {"national_id": nid, "phone": phone, "consent": consent}
        )
        assert started.status_code == 202, started.text
        code = last_code(outbox, phone, "signup")
        confirmed = await post(
            client, f"/v1/signups/{started.json()['signup_id']}/confirm", {"code": code}
        )
        assert confirmed.status_code == 201, confirmed.text
        session = confirmed.json()
        wallet_id, me = session["wallet_id"], {"Authorization": f"Bearer {session['access_token']}"}

        mine = await client.get("/v1/me/data", headers=me)
        assert mine.status_code == 200, mine.text
        assert mine.json()["personal_data"]["national_id"]["national_id"] == nid
        assert mine.json()["movements"][0]["type"] == "kgo.wallet.AccountOpened.v1"

        erased = await asyncio.to_thread(
            kgo, wallet, "erase", wallet_id, "--reason", "asked by e-mail",
            "--reference", "PDPA-E2E-1",
        )  # fmt: skip
        assert erased.returncode == 0, erased.stderr
        assert json.loads(erased.stdout)["balance_disposition"] == "frozen"

        again = await client.get("/v1/me/data", headers=me)
        assert again.status_code == 200, again.text
        assert again.json()["erased"] is True and again.json()["personal_data"] is None
        assert nid not in again.text and phone not in again.text
        # The phone signs in to nothing any more: no code is sent.
        sent = outbox.read_text().count("\n")
        assert (await post(client, "/v1/sessions", {"phone": phone})).status_code == 202
        assert outbox.read_text().count("\n") == sent

    downloaded = await asyncio.to_thread(kgo, wallet, "data", wallet_id)
    assert downloaded.returncode == 0, downloaded.stderr
    assert json.loads(downloaded.stdout)["erased"] is True and nid not in downloaded.stdout

    records = await read_all(wallet.topic, expected=2)
    types = [dict(r.headers)["ce_type"].decode() for r in records]
    assert "kgo.wallet.ResidentErased.v1" in types
    published = b"".join(r.value for r in records)
    assert nid.encode() not in published and phone.encode() not in published
