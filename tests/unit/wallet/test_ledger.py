"""The ledger's rules, on the in-memory store: supply, grants, spends, holds, idempotency."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from services.wallet.application import commands as c
from services.wallet.application import handlers
from services.wallet.domain.account import Account
from services.wallet.domain.ids import ISSUER_ID, MUNICIPALITY_ID, budget_id

pytestmark = pytest.mark.unit


def test_genesis_mints_once_and_hands_everything_to_the_municipality(treasury):
    assert treasury.balance(ISSUER_ID) == (0, 0)
    assert treasury.balance(MUNICIPALITY_ID) == (1_000_000, 0)
    again = treasury.run(c.MintGenesis)
    assert (again.status, again.body["code"]) == (409, "already_minted")


def test_allocation_cannot_exceed_the_municipality(treasury):
    treasury.run(c.OpenBudget, programme="bus", label="1-baht bus")
    out = treasury.run(c.AllocateBudget, programme="bus", amount=1_000_001)
    assert (out.status, out.body["code"]) == (409, "insufficient_funds")
    assert treasury.run(c.AllocateBudget, programme="bus", amount=50_000).ok
    assert treasury.run(c.ReturnBudget, programme="bus", amount=10_000).ok
    assert treasury.balance(budget_id("bus")) == (40_000, 0)
    assert treasury.balance(MUNICIPALITY_ID) == (960_000, 0)


def test_one_wallet_per_person(treasury):
    treasury.resident(1)
    same_id = treasury.run(
        c.RegisterResident,
        national_id_index="nid1",
        phone_index="other",
        personal_data_digest="x",
        sealed_personal_data="s",
        key_id="k",
    )
    same_phone = treasury.run(
        c.RegisterResident,
        national_id_index="other",
        phone_index="ph1",
        personal_data_digest="x",
        sealed_personal_data="s",
        key_id="k",
    )
    assert same_id.body["code"] == same_phone.body["code"] == "already_registered"
    assert "national ID" in same_id.body["reason"] and "phone" in same_phone.body["reason"]


def test_an_empty_budget_refuses_and_records_the_refusal(treasury):
    treasury.budget("missions", 150)
    wallet = treasury.resident(1)
    grant = dict(programme="missions", wallet_id=wallet, reason="5 bus rides", reference="m1")
    assert treasury.run(c.Grant, amount=100, **grant).status == 201
    refused = treasury.run(c.Grant, amount=100, **grant)
    assert (refused.status, refused.body["code"]) == (409, "budget_exhausted")
    budget = treasury.ledger.repository.get(budget_id("missions"))
    events = list(treasury.ledger.events.get(budget.id))
    assert isinstance(events[-1], Account.GrantRefused)
    assert events[-1].available == 50 and events[-1].resident_account_id == wallet
    assert treasury.balance(wallet) == (100, 0)


def test_spend_never_goes_below_zero_within_one_batch(treasury, funded):
    wallet, shop = funded(1_000), treasury.shop("noodles")
    spends = [
        treasury.cmd(
            c.Spend, caller="shop", wallet_id=wallet, payee_id=shop, amount=50, reference=f"r{i}"
        )
        for i in range(100)
    ]
    outcomes = treasury.ledger.execute(spends)
    assert [o.status for o in outcomes].count(201) == 20
    assert all(o.body["code"] == "insufficient_funds" for o in outcomes if not o.ok)
    assert treasury.balance(wallet) == (0, 0) and treasury.balance(shop) == (1_000, 0)


def test_same_key_same_body_returns_the_first_answer(treasury, funded):
    wallet, shop = funded(100), treasury.shop("noodles")
    body = dict(wallet_id=wallet, payee_id=shop, amount=60, reference="bill-1")
    first = treasury.run(c.Spend, caller="shop", key="till-1", **body)
    treasury.now += timedelta(minutes=1)  # a retry arrives later: same answer
    retry = treasury.run(c.Spend, caller="shop", key="till-1", **body)
    assert retry.replayed and (retry.status, retry.body) == (first.status, first.body)
    assert treasury.balance(wallet) == (40, 0)
    # the refusal of a later, different spend is remembered too
    refused = treasury.run(c.Spend, caller="shop", key="till-2", **{**body, "reference": "b2"})
    assert refused.status == 409
    treasury.run(
        c.Grant, programme="welcome", wallet_id=wallet, amount=500, reason="r", reference="x"
    )
    again = treasury.run(c.Spend, caller="shop", key="till-2", **{**body, "reference": "b2"})
    assert again.replayed and again.status == 409


def test_same_key_different_body_is_refused(treasury, funded):
    wallet, shop = funded(100), treasury.shop("noodles")
    treasury.run(
        c.Spend, caller="shop", key="k", wallet_id=wallet, payee_id=shop, amount=10, reference="a"
    )
    other = treasury.run(
        c.Spend, caller="shop", key="k", wallet_id=wallet, payee_id=shop, amount=20, reference="a"
    )
    assert (other.status, other.body["code"]) == (409, "idempotency_key_reused")
    # keys are scoped by caller: another caller may use the same key
    assert treasury.run(
        c.Spend, caller="bus", key="k", wallet_id=wallet, payee_id=shop, amount=20, reference="a"
    ).ok
    assert treasury.balance(wallet) == (70, 0)


def test_duplicate_keys_inside_one_batch_take_effect_once(treasury, funded):
    wallet, shop = funded(100), treasury.shop("noodles")
    spend = treasury.cmd(
        c.Spend, caller="shop", key="dup", wallet_id=wallet, payee_id=shop, amount=30, reference="a"
    )
    first, second = treasury.ledger.execute([spend, spend])
    assert first.status == 201 and second.replayed and second.body == first.body
    assert treasury.balance(wallet) == (70, 0)


def test_hold_capture_partial_returns_the_rest(treasury, funded):
    wallet, shop = funded(100), treasury.shop("noodles")
    hold = treasury.run(
        c.PlaceHold,
        caller="shop",
        wallet_id=wallet,
        payee_id=shop,
        amount=80,
        reference="bill",
        ttl_seconds=60,
    )
    hold_id = UUID(hold.body["hold_id"])
    assert treasury.balance(wallet) == (20, 80)
    captured = treasury.run(
        c.CaptureHold, caller="shop", wallet_id=wallet, hold_id=hold_id, payee_id=shop, amount=50
    )
    assert captured.body["captured"] == 50
    assert treasury.balance(wallet) == (50, 0) and treasury.balance(shop) == (50, 0)
    again = treasury.run(
        c.CaptureHold, caller="shop", wallet_id=wallet, hold_id=hold_id, payee_id=shop
    )
    assert again.body["code"] == "hold_not_found"


def test_hold_release_and_wrong_payee(treasury, funded):
    wallet, shop, other = funded(100), treasury.shop("a"), treasury.shop("b")
    hold_id = UUID(
        treasury.run(
            c.PlaceHold, wallet_id=wallet, payee_id=shop, amount=30, reference="r", ttl_seconds=60
        ).body["hold_id"]
    )
    wrong = treasury.run(c.CaptureHold, wallet_id=wallet, hold_id=hold_id, payee_id=other)
    assert (wrong.status, wrong.body["code"]) == (403, "wrong_payee")
    assert treasury.run(c.ReleaseHold, wallet_id=wallet, hold_id=hold_id, payee_id=shop).ok
    assert treasury.balance(wallet) == (100, 0)


def test_unanswered_hold_expires_at_business_time(treasury, funded):
    wallet, shop = funded(100), treasury.shop("a")
    hold_id = UUID(
        treasury.run(
            c.PlaceHold, wallet_id=wallet, payee_id=shop, amount=30, reference="r", ttl_seconds=60
        ).body["hold_id"]
    )
    early = treasury.run(c.ExpireHold, wallet_id=wallet, hold_id=hold_id)
    assert early.body["code"] == "hold_not_expired"
    treasury.now += timedelta(seconds=60)
    late_capture = treasury.run(c.CaptureHold, wallet_id=wallet, hold_id=hold_id, payee_id=shop)
    assert late_capture.body["code"] == "hold_expired"
    assert treasury.run(c.ExpireHold, wallet_id=wallet, hold_id=hold_id).ok
    assert treasury.balance(wallet) == (100, 0) and treasury.balance(shop) == (0, 0)


def test_only_residents_spend_and_only_shops_or_the_operator_are_paid(treasury, funded):
    wallet, shop = funded(100), treasury.shop("a")
    out = treasury.run(c.Spend, wallet_id=shop, payee_id=wallet, amount=1, reference="r")
    assert (out.status, out.body["code"]) == (422, "wrong_account_kind")
    missing = treasury.run(c.Spend, wallet_id=UUID(int=7), payee_id=shop, amount=1, reference="r")
    assert (missing.status, missing.body["code"]) == (404, "account_not_found")


def test_a_failing_handler_does_not_take_the_batch_down(treasury, funded, monkeypatch):
    wallet, shop = funded(100), treasury.shop("a")

    def broken(uow, cmd, receipt):
        uow.account(cmd.wallet_id).available += 1  # a bug that changes state, then fails
        raise RuntimeError("bug")

    monkeypatch.setitem(handlers.HANDLERS, c.ExpireHold, broken)
    good = treasury.cmd(c.Spend, wallet_id=wallet, payee_id=shop, amount=10, reference="r")
    bad = treasury.cmd(c.ExpireHold, wallet_id=wallet, hold_id=UUID(int=1))
    outcomes = treasury.ledger.execute([good, bad, good])
    assert [o.status for o in outcomes] == [201, 500, 201]
    assert outcomes[2].replayed
    assert treasury.balance(wallet) == (90, 0)


def test_a_failed_save_leaves_no_trace_in_the_writers_cache(treasury, funded, monkeypatch):
    wallet, shop = funded(100), treasury.shop("a")
    real_put = treasury.ledger.events.put

    def failing_put(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(treasury.ledger.events, "put", failing_put)
    with pytest.raises(ConnectionError):
        treasury.run(c.Spend, wallet_id=wallet, payee_id=shop, amount=60, reference="r")
    monkeypatch.setattr(treasury.ledger.events, "put", real_put)
    # the next decision starts from what was stored, not from the lost one
    assert treasury.run(c.Spend, wallet_id=wallet, payee_id=shop, amount=100, reference="r").ok
    assert treasury.balance(wallet) == (0, 0)
