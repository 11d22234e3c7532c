"""Residents pseudonymised with a keyed hash; public accounts kept; erased residents gone."""

from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.research.domain.pseudonyms import Pseudonymiser, key_id, resident_ids

pytestmark = pytest.mark.unit

KEY = b"unit-test-key-0123456789"


def test_same_key_same_pseudonym_other_key_other_pseudonym():
    wallet = str(uuid4())
    one, same = Pseudonymiser(KEY, {wallet}), Pseudonymiser(KEY, {wallet})
    other = Pseudonymiser(b"another-key-0123456789", {wallet})
    assert one.pseudonym(wallet) == same.pseudonym(wallet) == same.pseudonym(wallet.upper())
    assert one.pseudonym(wallet) != other.pseudonym(wallet)
    assert one.pseudonym(wallet).startswith("p-") and wallet not in one.pseudonym(wallet)


def test_key_id_names_the_key_without_revealing_it():
    assert key_id(KEY) == key_id(KEY) != key_id(b"x" * 24)
    assert KEY.decode() not in key_id(KEY)


@given(st.uuids())
def test_pseudonyms_do_not_contain_the_wallet_id(wallet):
    assert str(wallet) not in Pseudonymiser(KEY, {str(wallet)}).pseudonym(str(wallet))


def test_residents_are_found_by_field_semantics():
    resident, shop, rider = str(uuid4()), str(uuid4()), str(uuid4())
    payloads = [
        {"account_id": resident, "account_kind": "resident"},
        {
            "account_id": shop,
            "account_kind": "shop",
            "counter_account_id": resident,
            "counter_account_kind": "resident",
        },
        {"rider_account_id": rider, "account_id": shop, "account_kind": "operator"},
    ]
    assert resident_ids(payloads) == {resident, rider}


def test_scrub_keeps_public_accounts_and_replaces_residents_everywhere():
    resident, shop = str(uuid4()), str(uuid4())
    p = Pseudonymiser(KEY, {resident})
    row = p.scrub(
        {
            "account_id": shop,
            "account_kind": "shop",
            "counter_account_id": resident,
            "counter_account_kind": "resident",
            "reference": f"signup-{resident}",
            "amount": 5,
        }
    )
    assert row["account_id"] == shop
    assert row["counter_account_id"] == p.pseudonym(resident)
    assert row["reference"] == f"signup-{p.pseudonym(resident)}"
    assert row["amount"] == 5


def test_erased_resident_records_go_and_their_mentions_become_null():
    erased, shop = str(uuid4()), str(uuid4())
    p = Pseudonymiser(KEY, {erased}, {erased})
    assert p.is_erased_subject({"account_id": erased, "account_kind": "resident"})
    assert p.is_erased_subject({"wallet_id": erased, "shop_id": shop})
    budget_leg = {
        "account_id": shop,
        "account_kind": "budget",
        "counter_account_id": erased,
        "counter_account_kind": "resident",
        "reference": f"x-{erased}",
    }
    assert not p.is_erased_subject(budget_leg)
    row = p.scrub(budget_leg)
    assert row["counter_account_id"] is None and row["reference"] == "x-erased"


def test_an_erased_riders_pass_goes_with_them():
    erased, pass_id = str(uuid4()), str(uuid4())
    p = Pseudonymiser(KEY, {erased}, {erased})
    p.learn_erased_tokens([{"wallet_id": erased, "pass_id": pass_id, "pass_digest": "d" * 20}])
    assert p.is_erased_subject({"pass_id": pass_id, "wallet_id": None})
    assert p.is_erased_subject({"pass_digest": "d" * 20})


def test_event_ids_are_keyed_too():
    # the wallet's CloudEvents ids are uuid5(public namespace, "<account>:<version>")
    from kgo_runtime.envelope import stable_event_id

    wallet = str(uuid4())
    raw = stable_event_id(wallet, 1)
    p = Pseudonymiser(KEY, {wallet})
    assert p.event_id(raw).startswith("e-") and raw not in p.event_id(raw)
    assert p.event_id(raw) == Pseudonymiser(KEY, set()).event_id(raw)
    assert p.event_id(raw) != Pseudonymiser(b"another-key-0123456789", set()).event_id(raw)


def test_ids_that_may_derive_from_a_wallet_are_keyed_public_ids_are_kept():
    resident, shop, completion, mission = (str(uuid4()) for _ in range(4))
    p = Pseudonymiser(KEY, {resident}, public={shop, mission})
    row = p.scrub({"completion_id": completion, "mission_id": mission, "wallet_id": resident,
                   "reference": completion, "memo": f"for {completion} at {shop}"})  # fmt: skip
    assert row["completion_id"] == row["reference"] == p.identifier(completion)
    assert row["completion_id"].startswith("i-") and row["mission_id"] == mission
    assert row["memo"] == f"for {p.identifier(completion)} at {shop}"


def test_public_ids_are_found_by_kind_and_field():
    from services.research.domain.pseudonyms import public_ids

    resident, budget, shop_ref = str(uuid4()), str(uuid4()), str(uuid4())
    found = public_ids([
        {"account_id": budget, "account_kind": "budget", "counter_account_id": resident,
         "counter_account_kind": "resident"},
        {"shop_id": shop_ref, "wallet_id": resident},
    ])  # fmt: skip
    assert found == {budget, shop_ref}


def test_sign_up_origins_are_withheld_from_exports():
    """A sign-up's day-keyed origins link the residents of one device or network that day:
    no export carries them, neither as a value nor as a column of the dictionary."""
    from kgo_contracts.wallet import AccountOpened
    from services.research.domain.dictionary import event_table

    wallet = str(uuid4())
    payload = {"account_id": wallet, "account_kind": "resident", "origin_device": "d" * 32,
               "origin_network": "a" * 32}  # fmt: skip
    scrubbed = Pseudonymiser(KEY, {wallet}).scrub(payload)
    assert set(scrubbed) == {"account_id", "account_kind"}
    columns = event_table(AccountOpened).column_names()
    assert "origin_device" not in columns and "origin_network" not in columns
