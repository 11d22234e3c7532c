"""Paying at the till: rules, the wallet's refusals, retries, guessing, the daily cap."""

from __future__ import annotations

from uuid import uuid4

import pytest

from kgo_contracts.merchant import DiscountRedeemed, RedemptionDeclined
from services.merchant.application.answers import TillLocked
from services.merchant.application.redemptions import Policy
from services.merchant.domain.authorisation import PaymentCode
from services.merchant.domain.errors import IdempotencyConflict
from services.merchant.domain.ids import shop_payee_id
from services.merchant.domain.shops import ShopRules

from .conftest import Harness

pytestmark = pytest.mark.unit


async def test_an_approved_redemption_holds_captures_and_records_discount_redeemed(m: Harness):
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    answer = await m.pay(m.till(shop), m.wallet.payment_code(resident))
    assert answer.status == 201, answer
    assert answer.body["status"] == "redeemed"
    assert answer.body["discount_satang"] == 2_500 and answer.body["to_pay_satang"] == 9_500
    assert m.wallet.balances[resident] == 75
    assert m.wallet.balances[shop_payee_id(shop)] == 25
    [redeemed] = [e for e in m.published() if isinstance(e, DiscountRedeemed)]
    assert redeemed.shop_id == shop and redeemed.wallet_id == resident and redeemed.coins == 25
    assert str(redeemed.redemption_id) == answer.body["redemption_id"]


async def test_a_till_retry_with_the_same_key_gets_the_first_answer(m: Harness):
    shop = await m.enrol()
    till, code = m.till(shop), m.wallet.payment_code(m.wallet.resident(100))
    first = await m.pay(till, code, key="till-7")
    again = await m.pay(till, code, key="till-7")
    assert again.replayed and again.body == first.body and again.status == 201
    assert m.wallet.count("hold") == 1 and m.wallet.count("capture") == 1
    with pytest.raises(IdempotencyConflict):
        await m.pay(till, code, bill=99_000, key="till-7")


@pytest.mark.parametrize(
    ("rules", "bill", "coins", "code"),
    [
        (ShopRules(max_coin_share_percent=20), 10_000, 25, "coin_share_exceeded"),
        (ShopRules(cap_per_bill_coins=10), 100_000, 11, "bill_cap_exceeded"),
    ],
)
async def test_shop_rules_decline_with_a_stable_code(m: Harness, rules, bill, coins, code):
    shop = await m.enrol(rules)
    resident = m.wallet.resident(100)
    answer = await m.pay(m.till(shop), m.wallet.payment_code(resident), bill=bill, coins=coins)
    assert answer.status == 409 and answer.body["code"] == code
    assert m.wallet.count("hold") == 0 and m.wallet.balances[resident] == 100
    [declined] = [e for e in m.published() if isinstance(e, RedemptionDeclined)]
    assert declined.reason_code == code


async def test_a_suspended_shop_is_declined_and_a_reinstated_one_is_not(m: Harness):
    shop = await m.enrol()
    await m.shops.suspend("admin", m.key(), shop, "inspection")
    resident = m.wallet.resident(100)
    answer = await m.pay(m.till(shop), m.wallet.payment_code(resident))
    assert answer.body["code"] == "shop_suspended" and m.wallet.count("hold") == 0
    await m.shops.reinstate("admin", m.key(), shop)
    assert (await m.pay(m.till(shop), m.wallet.payment_code(resident))).status == 201


async def test_a_code_reused_expired_or_unknown_is_declined(m: Harness):
    shop = await m.enrol()
    till, resident = m.till(shop), m.wallet.resident(100)
    code = m.wallet.payment_code(resident)
    assert (await m.pay(till, code)).status == 201
    assert (await m.pay(till, code)).body["code"] == "payment_code_used"
    stale = m.wallet.payment_code(resident)
    m.clock.advance(seconds=121)
    assert (await m.pay(till, stale)).body["code"] == "payment_code_expired"
    assert (await m.pay(till, "99999999")).body["code"] == "payment_code_invalid"
    assert m.wallet.balances[resident] == 75


async def test_a_code_pays_only_from_the_wallet_it_belongs_to(m: Harness):
    shop = await m.enrol()
    owner, other = m.wallet.resident(100), m.wallet.resident(100)
    answer = await m.pay(m.till(shop), m.wallet.payment_code(owner))
    assert answer.body["wallet_id"] == str(owner)
    assert m.wallet.balances[other] == 100


async def test_guessing_codes_locks_the_till_out_and_only_that_till(m: Harness):
    shop = await m.enrol()
    guesser, honest = m.till(shop), m.till(shop)
    for guess in range(5):
        answer = await m.pay(guesser, f"{10_000 + guess:08d}")
        assert answer.body["code"] == "payment_code_invalid"
    with pytest.raises(TillLocked) as locked:
        await m.pay(guesser, m.wallet.payment_code(m.wallet.resident(100)))
    assert locked.value.retry_after > 0
    assert (await m.pay(honest, m.wallet.payment_code(m.wallet.resident(100)))).status == 201
    m.clock.advance(minutes=16)
    assert (await m.pay(guesser, m.wallet.payment_code(m.wallet.resident(100)))).status == 201


async def test_the_daily_cap_declines_and_releases_the_hold():
    m = Harness(Policy(daily_cap_coins=40))
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    assert (await m.pay(m.till(shop), m.wallet.payment_code(resident))).status == 201
    answer = await m.pay(m.till(shop), m.wallet.payment_code(resident))
    assert answer.body["code"] == "daily_cap_reached"
    assert m.wallet.count("release") == 1 and m.wallet.balances[resident] == 75
    m.clock.advance(days=1)
    assert (await m.pay(m.till(shop), m.wallet.payment_code(resident))).status == 201


async def test_insufficient_funds_is_declined(m: Harness):
    shop = await m.enrol()
    answer = await m.pay(m.till(shop), m.wallet.payment_code(m.wallet.resident(10)))
    assert answer.body["code"] == "insufficient_funds"


async def test_an_unknown_shop_is_not_found(m: Harness):
    from services.merchant.domain.errors import ShopNotFound

    with pytest.raises(ShopNotFound):
        await m.pay(m.till(uuid4()), "12345678")


async def test_a_code_of_another_wallet_than_the_one_the_till_names_is_declined(m: Harness):
    shop = await m.enrol()
    owner, other = m.wallet.resident(100), m.wallet.resident(100)
    till = m.till(shop)
    answer = await m.redemptions.redeem(
        till, m.key(), authorisation=PaymentCode(m.wallet.payment_code(owner)),
        bill_satang=12_000, coins=25, wallet_id=other,
    )  # fmt: skip
    assert answer.status == 409 and answer.body["code"] == "payment_code_invalid"
    assert m.wallet.balances[owner] == 100 and m.wallet.balances[other] == 100
    named = await m.redemptions.redeem(
        till, m.key(), authorisation=PaymentCode(m.wallet.payment_code(owner)),
        bill_satang=12_000, coins=25, wallet_id=owner,
    )  # fmt: skip
    assert named.status == 201


async def test_a_redemption_of_nothing_is_refused_not_recorded(m: Harness):
    from services.merchant.domain.errors import MerchantError

    shop = await m.enrol()
    with pytest.raises(MerchantError) as refused:
        await m.pay(m.till(shop), "12345678", coins=0)
    assert refused.value.code == "invalid_amount"
    assert not [e for e in m.published() if isinstance(e, RedemptionDeclined)]
