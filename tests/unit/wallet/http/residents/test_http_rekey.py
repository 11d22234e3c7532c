"""The one-time re-keying of wallets opened before per-resident data keys, on the in-memory
wallet: before it a legacy wallet's download has no personal data and its erasure frees
nothing; after it the wallet behaves exactly as a new one (download, erasure, re-registration,
sign-in by its phone), and rotating the service key leaves its old ciphertext unreadable."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from services.wallet.adapters.personal_data import PersonalDataVault, SealError
from services.wallet.application.rekeying import Rekeying
from services.wallet.domain.identity import IdentityClaim, ResidentRecord, resident_record_id
from services.wallet.domain.ids import claim_id
from services.wallet.settings import WalletSettings
from services.wallet.testing import open_legacy_wallet, seal_legacy

from ..conftest import City, national_id
from .conftest import Residents, bearer

pytestmark = pytest.mark.unit

NID, PHONE = national_id("310120045678"), "0898765432"
ERASURE = {"reason": "resident asked at the counter", "reference": "PDPA-2026-0042"}
PERSON = {"full_name": "Somchai Jaidee", "consent": {"channel": "counter"}}


def other(nid: str) -> dict[str, str]:
    """A registration of ``nid`` with a phone nobody has."""
    return {"national_id": nid, "phone": "0861112222"}


async def legacy(residents: Residents, nid: str = NID, **kw: Any) -> UUID:
    container = residents.api.container
    return await asyncio.to_thread(
        open_legacy_wallet, container.ledger, container.vault, national_id=nid,
        at=residents.clock.now(), **kw,
    )  # fmt: skip


async def rekey(residents: Residents, *, dry_run: bool = False) -> Rekeying:
    job = Rekeying(residents.api.container.resident_data, dry_run=dry_run)
    for wallet in await job.legacy_wallets():
        await job.rekey(wallet)
    await job.rewrap_keys()
    await job.remaining()
    return job


async def data_of(residents: Residents, city: City, wallet_id: UUID) -> dict[str, Any]:
    answer = await residents.api.get(f"/v1/residents/{wallet_id}/data", city.admin)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_before_rekey_a_legacy_wallet_has_no_personal_data_and_erasure_frees_nothing(
    residents: Residents, city: City
) -> None:
    wallet_id = await legacy(residents, phone=PHONE, extra=PERSON)
    assert (await data_of(residents, city, wallet_id))["personal_data"] is None
    path = f"/v1/residents/{wallet_id}/erasure"
    erased = await residents.api.post(path, ERASURE, city.admin)
    assert erased.status_code == 200 and erased.json()["legacy"] is True
    again = await residents.api.post("/v1/residents", other(NID), city.admin)
    residents.api.problem(again, 409, "already_registered")


async def test_after_rekey_a_legacy_wallet_downloads_erases_and_frees_its_national_id(
    residents: Residents, city: City
) -> None:
    container = residents.api.container
    wallet_id = await legacy(residents, phone=PHONE, extra=PERSON)
    dry = await rekey(residents, dry_run=True)
    assert (dry.report.planned, dry.report.rekeyed, dry.report.legacy_left) == (1, 0, 1)
    assert await container.keys.key_of(wallet_id) is None  # a dry run changes nothing

    job = await rekey(residents)

    assert (job.report.rekeyed, job.report.failed, job.report.done) == (1, {}, True)
    data = await data_of(residents, city, wallet_id)
    assert data["personal_data"]["national_id"] == {"national_id": NID, "phone": PHONE, **PERSON}
    assert data["notes"] == []
    # Sealed under the resident's own key, bound to the wallet: the service key opens nothing.
    record = container.ledger.repository.get(resident_record_id(wallet_id))
    assert isinstance(record, ResidentRecord) and len(record.claims) == 2
    claim = container.ledger.repository.get(record.claims[0])
    with pytest.raises(SealError):
        container.vault.unseal(claim.sealed_personal_data)
    # The phone signs in to the wallet through the blind-index table now.
    session = await residents.sign_in(PHONE)
    assert session["wallet_id"] == str(wallet_id)
    mine = await residents.api.get("/v1/me/data", bearer(session))
    assert mine.json()["personal_data"]["national_id"]["national_id"] == NID
    # A second registration is still refused (one wallet per person).
    twice = await residents.api.post("/v1/residents", other(NID), city.admin)
    residents.api.problem(twice, 409, "already_registered")

    erased = await residents.api.post(f"/v1/residents/{wallet_id}/erasure", ERASURE, city.admin)
    assert erased.status_code == 200 and erased.json()["legacy"] is False
    assert await container.keys.key_of(wallet_id) is None
    for kind, value in (("national_id", NID), ("phone", PHONE)):
        assert await container.keys.find_claim(container.vault.blind_index(kind, value)) is None
    again = await residents.api.post("/v1/residents", {"national_id": NID, "phone": PHONE},
                                     city.admin)  # fmt: skip
    assert again.status_code == 201, again.text
    assert again.json()["wallet_id"] != str(wallet_id)


async def test_rekey_is_idempotent(residents: Residents) -> None:
    await legacy(residents)
    first = await rekey(residents)
    second = await rekey(residents)
    assert (first.report.rekeyed, second.report.rekeyed, second.report.already) == (1, 0, 1)
    assert second.report.done


async def test_a_wallet_erased_before_rekey_is_shredded_and_closed_if_the_setting_says_so(
    residents: Residents, city: City
) -> None:
    container = residents.api.container
    container.settings = WalletSettings(reregistration_after_erasure=False)
    wallet_id = await legacy(residents, phone=PHONE)
    erased = await residents.api.post(f"/v1/residents/{wallet_id}/erasure", ERASURE, city.admin)
    assert erased.status_code == 200

    job = await rekey(residents)

    assert (job.report.erased, job.report.legacy_left) == (1, 0)
    assert await container.keys.key_of(wallet_id) is None  # no key for an erased resident
    closed = await residents.api.post("/v1/residents", other(NID), city.admin)
    residents.api.problem(closed, 409, "registration_closed")
    # The phone is free again: only the national ID is kept closed.
    person = {"national_id": national_id("110170023071"), "phone": PHONE}
    assert (await residents.api.post("/v1/residents", person, city.admin)).status_code == 201


async def test_a_phone_linked_the_old_way_moves_too(residents: Residents, city: City) -> None:
    wallet_id = await legacy(residents, linked_phone=PHONE)
    await rekey(residents)
    data = await data_of(residents, city, wallet_id)
    assert data["personal_data"] == {"national_id": {"national_id": NID, "phone": None},
                                     "phone": {"phone": PHONE}}  # fmt: skip
    assert (await residents.sign_in(PHONE))["wallet_id"] == str(wallet_id)


async def test_a_crash_before_the_ledger_step_is_healed_by_a_rerun(
    residents: Residents, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = residents.api.container
    wallet_id = await legacy(residents, phone=PHONE)
    data = container.resident_data

    async def crash(command: Any) -> Any:
        raise ConnectionError("killed")

    monkeypatch.setattr(data.bus, "submit", crash)
    job = Rekeying(data)
    [found] = await job.legacy_wallets()
    with pytest.raises(ConnectionError):
        await job.rekey(found)
    key = await container.keys.key_of(wallet_id)
    assert key is not None  # the key was made, the ledger step not
    monkeypatch.undo()

    rerun = await rekey(residents)

    assert rerun.report.rekeyed == 1 and await container.keys.key_of(wallet_id) == key
    assert (await data_of(residents, city, wallet_id))["personal_data"]["national_id"]


async def test_rotating_the_service_key_leaves_the_legacy_ciphertext_unreadable(
    residents: Residents, city: City
) -> None:
    container = residents.api.container
    old = container.vault
    legacy_id = await legacy(residents, phone=PHONE)
    fresh = await residents.api.post("/v1/residents", other(national_id("110170023072")),
                                     city.admin)  # fmt: skip
    fresh_id = UUID(fresh.json()["wallet_id"])
    # Every host gets the new key, the old one as the previous key.
    container.vault = PersonalDataVault(seal_key=bytes(range(100, 132)), index_key=old.index_key,
                                        previous_seal_key=old.seal_key)  # fmt: skip

    job = await rekey(residents)

    assert job.report.keys_rewrapped >= 2 and job.report.done
    # The old key destroyed: downloads still open (the data keys are wrapped by the new one)...
    container.vault = PersonalDataVault(seal_key=bytes(range(100, 132)), index_key=old.index_key,
                                        legacy_readable=False)  # fmt: skip
    for wallet_id in (legacy_id, fresh_id):
        assert (await data_of(residents, city, wallet_id))["personal_data"]["national_id"]
    # ...and the legacy claim in the immutable events opens with no key there is.
    legacy_claim = container.ledger.repository.get(
        claim_id("national_id", old.blind_index("national_id", NID))
    )
    assert isinstance(legacy_claim, IdentityClaim) and legacy_claim.superseded
    with pytest.raises(SealError):
        container.vault.unseal(legacy_claim.sealed_personal_data)


def test_legacy_values_can_be_retired() -> None:
    vault = PersonalDataVault(bytes(range(32)), bytes(range(32, 64)))
    token = seal_legacy(vault, {"national_id": NID})
    assert vault.unseal(token) == {"national_id": NID}
    retired = PersonalDataVault(vault.seal_key, vault.index_key, legacy_readable=False)
    with pytest.raises(SealError, match="retired"):
        retired.unseal(token)


async def test_a_replay_sealed_under_a_destroyed_key_answers_409_not_500(city: City) -> None:
    api = city.api
    first = await api.post("/v1/payment-codes", None, city.resident, key="code-1")
    assert first.status_code == 201, first.text
    old = api.container.vault
    api.container.vault = PersonalDataVault(bytes(range(100, 132)), old.index_key)

    replay = await api.post("/v1/payment-codes", None, city.resident, key="code-1")

    api.problem(replay, 409, "answer_expired")


async def test_an_erasure_racing_the_rekey_wins_and_the_indexes_still_go(
    residents: Residents, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The erasure is decided between rekey's reads and its ledger step."""
    container = residents.api.container
    wallet_id = await legacy(residents, phone=PHONE)
    data = container.resident_data
    real_submit = data.bus.submit

    async def erase_first(command: Any) -> Any:
        path = f"/v1/residents/{wallet_id}/erasure"
        assert (await residents.api.post(path, ERASURE, city.admin)).status_code == 200
        return await real_submit(command)

    monkeypatch.setattr(data, "bus", type("Racing", (), {"submit": staticmethod(erase_first)})())
    job = Rekeying(data)
    [found] = await job.legacy_wallets()
    assert await job.rekey(found) == "erased"

    assert await container.keys.key_of(wallet_id) is None
    for kind, value in (("national_id", NID), ("phone", PHONE)):
        assert await container.keys.find_claim(container.vault.blind_index(kind, value)) is None
    again = await residents.api.post("/v1/residents", {"national_id": NID, "phone": PHONE},
                                     city.admin)  # fmt: skip
    assert again.status_code == 201, again.text
