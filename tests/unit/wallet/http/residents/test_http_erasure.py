"""A resident's access request and erasure, on the in-memory wallet: what the download holds,
and after an erasure every path that could still reach the person."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from services.wallet.domain.account import Account
from services.wallet.domain.identity import IdentityClaim, resident_record_id
from services.wallet.domain.ids import MUNICIPALITY_ID
from services.wallet.settings import WalletSettings

from ..conftest import City, national_id
from .conftest import Residents, bearer

pytestmark = pytest.mark.unit

NID, PHONE = national_id("310120045678"), "0898765432"
ERASURE = {"reason": "resident asked at the counter", "reference": "PDPA-2026-0042"}


async def _erase(residents: Residents, admin: dict[str, str], wallet_id: str, **kw: Any) -> Any:
    return await residents.api.post(f"/v1/residents/{wallet_id}/erasure", ERASURE, admin, **kw)


async def test_a_resident_downloads_what_the_wallet_holds_then_is_erased(
    residents: Residents, city: City
) -> None:
    session = await residents.sign_up(NID, PHONE)
    me, wallet_id = bearer(session), session["wallet_id"]
    grant = {"programme": "welcome", "wallet_id": wallet_id, "amount": 100,
             "reason": "signup bonus", "reference": "signup:2"}  # fmt: skip
    assert (await residents.api.post("/v1/grants", grant, city.service)).status_code == 201

    download = await residents.api.get("/v1/me/data", me)
    assert download.status_code == 200, download.text
    data = download.json()
    assert data["erased"] is False and data["wallet_id"] == wallet_id
    sealed = data["personal_data"]["national_id"]
    assert (sealed["national_id"], sealed["phone"]) == (NID, PHONE)
    assert sealed["consent"]["channel"] == "app"
    assert [m["type"] for m in data["movements"]] == [
        "kgo.wallet.AccountOpened.v1", "kgo.wallet.CoinsGranted.v1",
    ]  # fmt: skip
    assert data["account"]["available"] == 100
    assert download.headers["cache-control"] == "no-store"

    erased = await _erase(residents, city.admin, wallet_id)
    assert erased.status_code == 200, erased.text
    assert erased.json()["balance_disposition"] == "frozen"
    assert erased.json()["coins_frozen"] == 100

    for path, headers in (("/v1/me/data", me), (f"/v1/residents/{wallet_id}/data", city.admin)):
        again = await residents.api.get(path, headers)
        assert again.status_code == 200, again.text
        assert again.json()["erased"] is True and again.json()["personal_data"] is None
        assert again.json()["erasure"]["reference"] == "PDPA-2026-0042"
        assert NID not in again.text and PHONE not in again.text
        assert again.json()["movements"][-1]["type"] == "kgo.wallet.ResidentErased.v1"


async def test_after_an_erasure_nothing_reaches_the_person(
    residents: Residents, city: City
) -> None:
    container = residents.api.container
    session = await residents.sign_up(NID, PHONE)
    wallet_id = UUID(session["wallet_id"])
    assert (await _erase(residents, city.admin, str(wallet_id))).status_code == 200

    # The data key is gone; the claim's ciphertext stays in the ledger, unreadable.
    assert await container.keys.key_of(wallet_id) is None
    assert await container.resident_data.data_key(wallet_id) is None
    claims = container.ledger.repository.get(resident_record_id(wallet_id)).claims
    claim = container.ledger.repository.get(claims[0])
    assert isinstance(claim, IdentityClaim) and claim.sealed_personal_data
    # Neither blind index finds anything any more.
    for kind, value in (("national_id", NID), ("phone", PHONE)):
        assert await container.keys.find_claim(container.vault.blind_index(kind, value)) is None
    # Sign-in by the phone is answered like an unknown phone: no code goes out.
    sent = len(residents.notifier.sent)
    started = await residents.post("/v1/sessions", {"phone": PHONE})
    assert started.status_code == 202 and len(residents.notifier.sent) == sent


async def test_an_erased_wallet_is_frozen_its_instruments_stop_working(city: City) -> None:
    api = city.api
    code = await city.payment_code()
    erased = await api.post(f"/v1/residents/{city.wallet_id}/erasure", ERASURE, city.admin)
    assert erased.status_code == 200, erased.text

    spent = await api.post("/v1/spends", await city.pay(40, code=code), city.service)
    api.problem(spent, 409, "wallet_erased")
    grant = {"programme": "welcome", "wallet_id": city.wallet_id, "amount": 5,
             "reason": "mission", "reference": "m:1"}  # fmt: skip
    api.problem(await api.post("/v1/grants", grant, city.service), 409, "wallet_erased")
    wallet = await api.get(f"/v1/wallets/{city.wallet_id}", city.admin)
    assert wallet.json()["available"] == 1_000  # the balance stays, frozen


async def test_the_balance_may_go_back_to_the_municipality(city: City) -> None:
    api = city.api
    api.container.settings = WalletSettings(erasure_balance="returned")
    before = api.container.ledger.account(MUNICIPALITY_ID)
    assert before is not None

    erased = await api.post(f"/v1/residents/{city.wallet_id}/erasure", ERASURE, city.admin)

    assert erased.status_code == 200, erased.text
    assert (erased.json()["balance_disposition"], erased.json()["coins_frozen"]) == ("returned", 0)
    after = api.container.ledger.account(MUNICIPALITY_ID)
    assert after is not None and after.available == before.available + 1_000
    wallet = api.container.ledger.account(UUID(city.wallet_id))
    assert isinstance(wallet, Account) and (wallet.available, wallet.erased) == (0, True)


async def test_the_person_may_register_again_by_default(residents: Residents, city: City) -> None:
    first = await residents.sign_up(NID, PHONE)
    assert (await _erase(residents, city.admin, first["wallet_id"])).status_code == 200

    second = await residents.sign_up(NID, PHONE)

    assert second["wallet_id"] != first["wallet_id"]
    mine = await residents.api.get("/v1/me/data", bearer(second))
    assert mine.json()["personal_data"]["national_id"]["national_id"] == NID


async def test_re_registration_can_be_closed(residents: Residents, city: City) -> None:
    residents.api.container.settings = WalletSettings(reregistration_after_erasure=False)
    first = await residents.sign_up(NID, PHONE)
    assert (await _erase(residents, city.admin, first["wallet_id"])).status_code == 200

    started = await residents.start_signup(NID, PHONE)
    code = residents.notifier.last_code(PHONE)
    confirmed = await residents.post(
        f"/v1/signups/{started.json()['signup_id']}/confirm", {"code": code}
    )
    residents.api.problem(confirmed, 409, "registration_closed")


async def test_erasure_waits_for_open_holds_and_happens_once(city: City) -> None:
    api = city.api
    held = await api.post("/v1/holds", await city.pay(30, ttl_seconds=60), city.service)
    assert held.status_code == 201, held.text
    path = f"/v1/residents/{city.wallet_id}/erasure"
    api.problem(await api.post(path, ERASURE, city.admin), 409, "holds_open")

    hold = held.json()["hold_id"]
    released = await api.post(
        f"/v1/wallets/{city.wallet_id}/holds/{hold}/release", None, city.service
    )
    assert released.status_code == 200, released.text
    first = await api.post(path, ERASURE, city.admin, key="erase-1")
    replay = await api.post(path, ERASURE, city.admin, key="erase-1")
    assert first.status_code == replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    api.problem(await api.post(path, ERASURE, city.admin), 409, "already_erased")


async def test_only_an_administrator_erases_and_reads_for_a_resident(city: City) -> None:
    api = city.api
    path = f"/v1/residents/{city.wallet_id}/erasure"
    for who in (city.resident, city.service, city.counter, city.auditor):
        api.problem(await api.post(path, ERASURE, who), 403, "forbidden")
        api.problem(await api.get(f"/v1/residents/{city.wallet_id}/data", who), 403, "forbidden")
    api.problem(await api.get("/v1/me/data", city.service), 403, "forbidden")
    bad = {**ERASURE, "reference": "Somchai Jaidee"}
    api.problem(await api.post(path, bad, city.admin), 422, "invalid_request")
    api.problem(await api.get(f"/v1/residents/{city.shop_id}/data", city.admin), 404,
                "wallet_not_found")  # fmt: skip


async def test_a_wallet_opened_before_data_keys_still_counts_and_still_reads(
    residents: Residents, city: City
) -> None:
    """The legacy layout: the claim keyed by its blind index, sealed under the service key."""
    from services.wallet.application.commands import RegisterResident

    container = residents.api.container
    vault = container.vault
    legacy = vault.seal({"national_id": NID})
    nid_index = vault.blind_index("national_id", NID)
    [opened] = await asyncio.to_thread(
        container.ledger.execute,
        [RegisterResident(idempotency_key="old-1", caller="admin", at=residents.clock.now(),
                          national_id_index=nid_index, phone_index=None,
                          personal_data_digest="d", sealed_personal_data=legacy,
                          key_id=vault.key_id)],
    )  # fmt: skip
    assert opened.ok, opened
    assert vault.unseal(legacy) == {"national_id": NID}

    again = await residents.api.post(
        "/v1/residents", {"national_id": NID, "phone": "0861112222"}, city.admin
    )

    residents.api.problem(again, 409, "already_registered")
