"""Consent decided by the ledger (in memory): codes live two minutes, pay once and are drawn
again only when dead; a payment and its code's use are one decision, in one batch too."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from services.wallet.application import commands as c
from services.wallet.application.consent_commands import IssuePaymentCode, IssueReceiveCode
from services.wallet.domain.instruments import PaymentCodeAuthorisation, ShortCode

from .conftest import Treasury

pytestmark = pytest.mark.unit


def issue(treasury: Treasury, wallet: UUID, code_id: UUID | None = None, **kw: object) -> c.Outcome:
    return treasury.run(
        IssuePaymentCode, caller=f"resident:{wallet}", wallet_id=wallet, ttl_seconds=120,
        instrument_id=code_id or uuid4(), sealed_secret="sealed", **kw,
    )  # fmt: skip


def spend(
    treasury: Treasury, shop: UUID, code_id: UUID, amount: int = 10, **kw: object
) -> c.Command:
    return treasury.cmd(
        c.Spend, caller="service:merchant", wallet_id=None, payee_id=shop, amount=amount,
        reference="r", authorisation=PaymentCodeAuthorisation(code_id=code_id), **kw,
    )  # fmt: skip


def test_a_live_code_collides_and_a_dead_one_is_drawn_again(treasury: Treasury, funded) -> None:
    somchai, malee = funded(100), funded(100)
    code_id = uuid4()
    assert issue(treasury, somchai, code_id).status == 201
    collided = issue(treasury, malee, code_id)
    assert (collided.status, collided.body["code"]) == (409, "code_collision")

    treasury.now += timedelta(seconds=120)
    assert issue(treasury, malee, code_id).status == 201  # expired: Malee's now
    shop = treasury.shop("noodles")
    [paid] = treasury.ledger.execute([spend(treasury, shop, code_id)])
    assert paid.body["wallet_id"] == str(malee)
    assert treasury.balance(somchai) == (100, 0) and treasury.balance(malee) == (90, 0)

    assert issue(treasury, somchai, code_id).status == 201  # used: drawn again
    code = treasury.ledger.repository.get(code_id)
    assert isinstance(code, ShortCode) and code.wallet_id == somchai and not code.used


def test_two_payments_with_one_code_in_one_batch_pay_once(treasury: Treasury, funded) -> None:
    wallet = funded(100)
    shop = treasury.shop("noodles")
    code_id = uuid4()
    issue(treasury, wallet, code_id)

    first, second = treasury.ledger.execute(
        [spend(treasury, shop, code_id, 10), spend(treasury, shop, code_id, 20)]
    )

    assert (first.status, second.status, second.body["code"]) == (201, 409, "payment_code_used")
    assert treasury.balance(wallet) == (90, 0)


def test_a_refused_payment_leaves_its_code_unused(treasury: Treasury, funded) -> None:
    wallet = funded(100)
    shop = treasury.shop("noodles")
    code_id = uuid4()
    issue(treasury, wallet, code_id)

    too_much, enough = treasury.ledger.execute(
        [spend(treasury, shop, code_id, 101), spend(treasury, shop, code_id, 100)]
    )

    assert (too_much.status, too_much.body["code"]) == (409, "insufficient_funds")
    assert enough.status == 201 and treasury.balance(wallet) == (0, 0)


def test_a_receive_code_pays_nothing(treasury: Treasury, funded) -> None:
    wallet = funded(100)
    shop = treasury.shop("noodles")
    code_id = uuid4()
    treasury.run(IssueReceiveCode, caller=f"resident:{wallet}", wallet_id=wallet,
                 ttl_seconds=300, instrument_id=code_id, sealed_secret="s")  # fmt: skip
    [refused] = treasury.ledger.execute([spend(treasury, shop, code_id)])
    assert (refused.status, refused.body["code"]) == (409, "payment_code_invalid")


def test_only_a_residents_wallet_gets_codes(treasury: Treasury) -> None:
    shop = treasury.shop("noodles")
    refused = issue(treasury, shop)
    assert (refused.status, refused.body["code"]) == (422, "wrong_account_kind")
    missing = issue(treasury, uuid4())
    assert (missing.status, missing.body["code"]) == (404, "account_not_found")


def test_a_payment_without_any_authorisation_or_wallet_is_refused(
    treasury: Treasury, funded
) -> None:
    shop = treasury.shop("noodles")
    cmd = treasury.cmd(c.Spend, caller="service:merchant", wallet_id=None, payee_id=shop,
                       amount=1, reference="r")  # fmt: skip
    [refused] = treasury.ledger.execute([cmd])
    assert (refused.status, refused.body["code"]) == (409, "authorisation_required")


def test_instruments_are_never_published(treasury: Treasury, funded) -> None:
    from services.wallet.adapters.contracts import to_contract

    wallet = funded(100)
    shop = treasury.shop("noodles")
    code_id = uuid4()
    issue(treasury, wallet, code_id)
    treasury.ledger.execute([spend(treasury, shop, code_id)])
    ledger = treasury.ledger
    events = [
        ledger.mapper.to_domain_event(stored) for stored in ledger.recorder.select_events(code_id)
    ]
    assert [type(e).__name__ for e in events] == ["Issued", "Used"]
    assert all(to_contract(e) is None for e in events)
