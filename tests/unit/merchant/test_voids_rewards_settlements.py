"""Voids in and after their window; rewards from the shop's balance or a matching budget;
settlements back to a budget."""

from __future__ import annotations

from uuid import UUID

import pytest

from kgo_contracts.merchant import CustomerRewarded, RedemptionVoided, ShopSettled
from services.merchant.application.redemptions import Policy
from services.merchant.domain.errors import MerchantError, RedemptionNotFound, VoidRefused
from services.merchant.domain.ids import shop_payee_id
from services.merchant.domain.shops import ShopRules

from .conftest import Harness

pytestmark = pytest.mark.unit


async def _redeemed(m: Harness) -> tuple[UUID, UUID, UUID]:
    shop = await m.enrol(ShopRules(matching_programme="shop-matching"))
    resident = m.wallet.resident(100)
    answer = await m.pay(m.till(shop), m.wallet.payment_code(resident))
    return shop, resident, UUID(answer.body["redemption_id"])


async def test_a_void_the_same_day_gives_the_coins_back(m: Harness):
    shop, resident, rid = await _redeemed(m)
    m.clock.advance(hours=10)  # 18:00, same Bangkok day
    answer = await m.redemptions.void(rid, by="payee:till", shop_id=shop)
    assert answer.body["status"] == "voided"
    assert m.wallet.balances[resident] == 100 and m.wallet.balances[shop_payee_id(shop)] == 0
    again = await m.redemptions.void(rid, by="payee:till", shop_id=shop)
    assert again.replayed and m.wallet.count("refund") == 1
    [voided] = [e for e in m.published() if isinstance(e, RedemptionVoided)]
    assert voided.coins == 25 and voided.wallet_id == resident


async def test_a_void_after_the_window_is_refused(m: Harness):
    shop, resident, rid = await _redeemed(m)
    m.clock.advance(hours=16)  # past midnight in Bangkok
    with pytest.raises(VoidRefused) as refused:
        await m.redemptions.void(rid, by="payee:till", shop_id=shop)
    assert refused.value.code == "void_window_closed"
    assert m.wallet.balances[resident] == 75 and m.wallet.count("refund") == 0


async def test_a_configured_void_window_in_seconds():
    m = Harness(Policy(void_window_seconds=600))
    _, _, rid = await _redeemed(m)
    m.clock.advance(seconds=601)
    with pytest.raises(VoidRefused):
        await m.redemptions.void(rid, by="admin", shop_id=None)


async def test_another_shops_till_cannot_see_or_void_a_redemption(m: Harness):
    _, _, rid = await _redeemed(m)
    other = await m.enrol()
    with pytest.raises(RedemptionNotFound):
        await m.redemptions.void(rid, by="payee:other", shop_id=other)


async def test_a_reward_from_the_shops_balance_and_from_matching(m: Harness):
    shop, resident, _ = await _redeemed(m)
    code = m.wallet.receive_code(resident)
    own = await m.circulation.reward(shop, m.key(), receive_code=code, coins=5)
    assert own.status == 201 and own.body["source"] == "shop"
    matched = await m.circulation.reward(shop, "r-2", receive_code=code, coins=7,
                                         source="matching")  # fmt: skip
    assert matched.body["programme"] == "shop-matching"
    again = await m.circulation.reward(shop, "r-2", receive_code=code, coins=7, source="matching")
    assert again.replayed and m.wallet.count("reward") == 2
    assert m.wallet.balances[resident] == 75 + 5 + 7
    assert m.wallet.balances[shop_payee_id(shop)] == 20
    sources = sorted(e.source for e in m.published() if isinstance(e, CustomerRewarded))
    assert sources == ["matching", "shop"]


async def test_a_reward_needs_a_known_receive_code_and_a_matching_budget(m: Harness):
    shop = await m.enrol()
    with pytest.raises(MerchantError) as unknown:
        await m.circulation.reward(shop, m.key(), receive_code="R0", coins=5)
    assert unknown.value.code == "receive_code_invalid"
    code = m.wallet.receive_code(m.wallet.resident(0))
    with pytest.raises(MerchantError) as none:
        await m.circulation.reward(shop, m.key(), receive_code=code, coins=5, source="matching")
    assert none.value.code == "no_matching_budget"
    declined = await m.circulation.reward(shop, m.key(), receive_code=code, coins=5)
    assert declined.status == 409 and declined.body["code"] == "insufficient_funds"


async def test_a_settlement_returns_coins_to_a_budget(m: Harness):
    shop, _, _ = await _redeemed(m)
    answer = await m.circulation.settle(
        shop, "s-1", coins=25, baht_satang=2_500, payment_reference="KTB-1", programme="municipal"
    )
    assert answer.status == 201 and m.wallet.budgets["municipal"] == 25
    [settled] = [e for e in m.published() if isinstance(e, ShopSettled)]
    assert settled.baht_satang == 2_500 and settled.payment_reference == "KTB-1"
    too_much = await m.circulation.settle(
        shop, "s-2", coins=1, baht_satang=100, payment_reference="KTB-2", programme="municipal"
    )
    assert too_much.body["code"] == "insufficient_funds"
