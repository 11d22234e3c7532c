"""The ledger's side of residents' access: a wallet opened without a phone links one once."""

from __future__ import annotations

from uuid import UUID

import pytest

from services.wallet.application import commands as c
from services.wallet.application.resident_commands import LinkPhone

from .conftest import Treasury

pytestmark = pytest.mark.unit


def _register(treasury: Treasury, n: int, phone: str | None) -> UUID:
    out = treasury.run(
        c.RegisterResident, national_id_index=f"nid{n}", phone_index=phone,
        personal_data_digest=f"d{n}", sealed_personal_data="sealed", key_id="k",
    )  # fmt: skip
    assert out.status == 201, out
    return UUID(out.body["wallet_id"])


def _link(treasury: Treasury, wallet: UUID, phone: str, key: str | None = None) -> c.Outcome:
    return treasury.run(
        LinkPhone, key=key, wallet_id=wallet, phone_index=phone, sealed_phone="s", key_id="k"
    )


def test_a_wallet_without_a_phone_links_one_once(treasury: Treasury) -> None:
    wallet = _register(treasury, 1, None)

    first = _link(treasury, wallet, "ph1")
    second = _link(treasury, wallet, "ph2")

    assert first.status == 201 and first.body["wallet_id"] == str(wallet)
    assert (second.status, second.body["code"]) == (409, "phone_already_linked")


def test_a_wallet_registered_with_a_phone_links_none(treasury: Treasury) -> None:
    wallet = _register(treasury, 1, "ph1")
    out = _link(treasury, wallet, "ph2")
    assert (out.status, out.body["code"]) == (409, "phone_already_linked")


def test_a_phone_of_another_wallet_is_not_linked(treasury: Treasury) -> None:
    _register(treasury, 1, "ph1")
    wallet = _register(treasury, 2, None)

    out = _link(treasury, wallet, "ph1")

    assert (out.status, out.body["code"]) == (409, "already_registered")
    assert _link(treasury, wallet, "ph2").status == 201
    # and the linked phone now blocks a registration with it
    again = treasury.run(
        c.RegisterResident, national_id_index="nid3", phone_index="ph2",
        personal_data_digest="d3", sealed_personal_data="sealed", key_id="k",
    )  # fmt: skip
    assert (again.status, again.body["code"]) == (409, "already_registered")


def test_a_linking_retried_with_its_key_is_answered_again(treasury: Treasury) -> None:
    wallet = _register(treasury, 1, None)
    first = _link(treasury, wallet, "ph1", key="link-1")
    again = _link(treasury, wallet, "ph1", key="link-1")
    assert again.replayed and again.body == first.body
