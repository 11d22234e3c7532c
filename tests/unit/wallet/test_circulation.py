"""Circulation on the in-memory ledger: a shop refunds and rewards residents, settles coins
back into a programme budget for baht paid outside KGO, and the offline-loss budget covers a
fare an offline rider could not pay. Each is one movement of two legs, refused whole when a
rule fails, answered without balances, and idempotent like every command."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from kgo_contracts.fold import fold
from kgo_runtime.envelope import stable_event_id
from services.wallet.adapters.contracts import to_contract
from services.wallet.application import commands as c
from services.wallet.application.circulation import CoverShortfall, Refund, Reward, Settle
from services.wallet.domain.account import Account
from services.wallet.domain.ids import budget_id

from .conftest import Treasury

pytestmark = pytest.mark.unit


@pytest.fixture
def town(treasury: Treasury) -> dict[str, UUID]:
    """A resident who paid a shop 60 and rode the bus for 50, and the two budgets."""
    treasury.budget("welcome", 10_000)
    treasury.budget("shop-matching", 100)
    treasury.budget("offline-loss", 80)
    resident = treasury.resident(1)
    rider = treasury.resident(2)
    shop = treasury.shop("shop-1")
    bus = UUID(
        treasury.run(c.OpenPayee, kind="operator", external_ref="bus", label="City Bus").body[
            "account_id"
        ]
    )
    grant = {"programme": "welcome", "reason": "signup", "reference": "s"}
    assert treasury.run(c.Grant, wallet_id=resident, amount=200, **grant).ok
    for payee, amount in ((shop, 60), (bus, 50)):
        spend = {"wallet_id": resident, "payee_id": payee, "reference": "r"}
        assert treasury.run(c.Spend, amount=amount, **spend).ok
    return {"resident": resident, "rider": rider, "shop": shop, "bus": bus}


def test_a_refund_moves_coins_from_the_shop_back_to_the_resident(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    out = treasury.run(
        Refund, payee_id=town["shop"], wallet_id=town["resident"], amount=25, reference="void-1"
    )
    assert out.status == 201, out
    assert set(out.body) == {"movement_id", "amount"}  # no balance figures
    assert treasury.balance(town["shop"]) == (35, 0)
    assert treasury.balance(town["resident"]) == (115, 0)


def test_a_refund_beyond_the_shops_coins_is_refused_and_moves_nothing(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    out = treasury.run(
        Refund, payee_id=town["shop"], wallet_id=town["resident"], amount=61, reference="void-1"
    )
    assert (out.status, out.body["code"]) == (409, "insufficient_funds")
    assert "60" not in out.body["reason"]  # the shop's balance is not told
    assert treasury.balance(town["shop"]) == (60, 0)
    assert treasury.balance(town["resident"]) == (90, 0)


def test_a_refund_goes_only_from_a_payee_to_a_resident(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    out = treasury.run(
        Refund, payee_id=town["resident"], wallet_id=town["rider"], amount=1, reference="x"
    )
    assert (out.status, out.body["code"]) == (422, "wrong_account_kind")
    out = treasury.run(Refund, payee_id=town["shop"], wallet_id=uuid4(), amount=1, reference="x")
    assert (out.status, out.body["code"]) == (404, "account_not_found")


def test_a_shop_rewards_from_its_own_balance(treasury: Treasury, town: dict[str, UUID]) -> None:
    out = treasury.run(
        Reward, wallet_id=town["rider"], amount=10, reference="loyal-1", payee_id=town["shop"]
    )
    assert out.status == 201, out
    assert treasury.balance(town["shop"]) == (50, 0)
    assert treasury.balance(town["rider"]) == (10, 0)
    out = treasury.run(
        Reward, wallet_id=town["rider"], amount=51, reference="loyal-2", payee_id=town["shop"]
    )
    assert (out.status, out.body["code"]) == (409, "insufficient_funds")


def test_a_matching_reward_is_a_grant_and_an_empty_budget_records_the_refusal(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    match = {"wallet_id": town["rider"], "programme": "shop-matching", "reason": "match shop-1"}
    assert treasury.run(Reward, amount=100, reference="m1", **match).status == 201
    assert treasury.balance(budget_id("shop-matching")) == (0, 0)
    assert treasury.balance(town["rider"]) == (100, 0)
    refused = treasury.run(Reward, amount=1, reference="m2", **match)
    assert (refused.status, refused.body["code"]) == (409, "budget_exhausted")
    budget = treasury.ledger.account(budget_id("shop-matching"))
    assert budget is not None
    kinds = [type(e).__name__ for e in published(treasury) if e.account_id == budget.id]
    assert kinds[-2:] == ["GrantDisbursed", "GrantRefused"]


def test_a_reward_names_exactly_one_source(treasury: Treasury, town: dict[str, UUID]) -> None:
    both = treasury.run(
        Reward, wallet_id=town["rider"], amount=1, reference="x",
        payee_id=town["shop"], programme="shop-matching",
    )  # fmt: skip
    neither = treasury.run(Reward, wallet_id=town["rider"], amount=1, reference="x")
    assert (both.status, neither.status) == (422, 422)


def test_a_settlement_returns_coins_to_a_budget_with_the_baht_paid_outside(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    out = treasury.run(
        Settle, payee_id=town["bus"], amount=50, programme="welcome",
        baht_satang=5_000, payment_reference="KTB-2022-06-30-001",
    )  # fmt: skip
    assert out.status == 201, out
    assert out.body["baht_satang"] == 5_000
    assert treasury.balance(town["bus"]) == (0, 0)
    assert treasury.balance(budget_id("welcome")) == (9_800 + 50, 0)
    legs = [
        e for e in published(treasury) if type(e).__name__ in {"SettlementPaid", "CoinsSettled"}
    ]
    assert [(e.account_id, e.baht_satang, e.payment_reference) for e in legs] == [
        (town["bus"], 5_000, "KTB-2022-06-30-001"),
        (budget_id("welcome"), 5_000, "KTB-2022-06-30-001"),
    ]


def test_a_settlement_needs_the_coins_and_a_budget(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    settle = {"payee_id": town["shop"], "baht_satang": 0, "payment_reference": "p"}
    out = treasury.run(Settle, amount=61, programme="welcome", **settle)
    assert (out.status, out.body["code"]) == (409, "insufficient_funds")
    out = treasury.run(Settle, amount=1, programme="no-such-budget", **settle)
    assert (out.status, out.body["code"]) == (404, "account_not_found")


def test_the_loss_budget_covers_an_offline_fare_without_touching_the_rider(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    shortfall = {"programme": "offline-loss", "payee_id": town["bus"], "wallet_id": town["rider"]}
    out = treasury.run(CoverShortfall, amount=50, reference="trip-9", **shortfall)
    assert out.status == 201, out
    assert treasury.balance(town["bus"]) == (100, 0)
    assert treasury.balance(budget_id("offline-loss")) == (30, 0)
    assert treasury.balance(town["rider"]) == (0, 0)
    covered = [e for e in published(treasury) if type(e).__name__ == "ShortfallCovered"]
    assert [(e.rider_account_id, e.reference) for e in covered] == [(town["rider"], "trip-9")]
    exhausted = treasury.run(CoverShortfall, amount=31, reference="trip-10", **shortfall)
    assert (exhausted.status, exhausted.body["code"]) == (409, "budget_exhausted")
    assert treasury.balance(budget_id("offline-loss")) == (30, 0)


def test_a_shortfall_is_paid_to_the_bus_operator_only(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    out = treasury.run(
        CoverShortfall, programme="offline-loss", payee_id=town["shop"],
        wallet_id=town["rider"], amount=1, reference="trip",
    )  # fmt: skip
    assert (out.status, out.body["code"]) == (422, "wrong_account_kind")


def test_a_movement_retried_with_its_key_lands_once(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    refund = {"payee_id": town["shop"], "wallet_id": town["resident"], "reference": "void-7"}
    first = treasury.run(Refund, caller="service:merchant", key="void-7", amount=5, **refund)
    again = treasury.run(Refund, caller="service:merchant", key="void-7", amount=5, **refund)
    assert (again.body, again.replayed) == (first.body, True)
    assert treasury.balance(town["shop"]) == (55, 0)
    other = treasury.run(Refund, caller="service:merchant", key="void-7", amount=6, **refund)
    assert (other.status, other.body["code"]) == (409, "idempotency_key_reused")


def test_what_the_ledger_publishes_folds_to_its_balances_and_the_supply(
    treasury: Treasury, town: dict[str, UUID]
) -> None:
    treasury.run(Refund, payee_id=town["shop"], wallet_id=town["resident"], amount=5, reference="v")
    treasury.run(Reward, wallet_id=town["rider"], amount=5, reference="r", payee_id=town["shop"])
    treasury.run(
        Reward, wallet_id=town["rider"], amount=5, reference="m", programme="shop-matching"
    )
    treasury.run(
        Settle, payee_id=town["shop"], amount=50, programme="welcome", baht_satang=5_000,
        payment_reference="p",
    )  # fmt: skip
    treasury.run(
        CoverShortfall, programme="offline-loss", payee_id=town["bus"], wallet_id=town["rider"],
        amount=20, reference="t",
    )  # fmt: skip
    events = published(treasury)
    ledger = fold(
        (stable_event_id(e.account_id, e.account_version), e.ce_type(), e.model_dump(mode="json"))
        for e in events
    )
    ledger.check_conservation()
    assert ledger.minted == 1_000_000
    for account_id, balance in ledger.balances.items():
        assert treasury.balance(UUID(account_id)) == (balance.available, balance.held)


def test_every_balance_changing_domain_event_has_its_contract() -> None:
    from kgo_contracts.wallet import WALLET_EVENTS

    names = {cls.__name__ for cls in WALLET_EVENTS}
    entries = {
        name
        for name, value in vars(Account).items()
        if isinstance(value, type) and issubclass(value, Account.Entry)
    }
    assert entries - {"Entry", "HoldSettled"} <= names


def published(treasury: Treasury) -> list:  # type: ignore[type-arg]
    """Every stored account event, as the relay would publish it."""
    ledger = treasury.ledger
    notifications = ledger.recorder.select_notifications(1, 100_000)
    contracts = [to_contract(ledger.mapper.to_domain_event(n)) for n in notifications]
    return [e for e in contracts if e is not None]


def test_kgo_run_opens_the_circulation_budgets_within_the_supply() -> None:
    from kgo_cli.platform_setup import DEFAULT_BUDGETS
    from services.wallet.domain.movements import TOTAL_SUPPLY

    programmes = {programme for programme, _, _ in DEFAULT_BUDGETS}
    assert {"welcome", "shop-matching", "offline-loss"} <= programmes
    assert sum(amount for _, _, amount in DEFAULT_BUDGETS) <= TOTAL_SUPPLY
