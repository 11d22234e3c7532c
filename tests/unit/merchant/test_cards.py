"""A printed card and its PIN at the till: the wallet decides, the merchant carries the
authorisation, keeps neither the number nor the PIN, maps the wallet's refusals to stable
declines, counts wrong PINs in the till's lockout, and finishes a card redemption a crash
left open only from what the wallet recorded."""

from __future__ import annotations

from uuid import UUID

import pytest

from kgo_contracts.merchant import DiscountRedeemed, RedemptionDeclined
from services.merchant.application.answers import TillLocked
from services.merchant.application.ports import WalletDown
from services.merchant.application.redemptions import INTERRUPTED, Policy
from services.merchant.domain.errors import IdempotencyConflict
from services.merchant.domain.redemption import HELD, STARTED, Redemption

from .conftest import Crashed, Harness

pytestmark = pytest.mark.unit

PIN = "2580"


def _stored_text(m: Harness) -> str:
    return "".join(
        n.state.decode("utf-8", "replace")
        for n in m.application.recorder.select_notifications(1, 10_000)
    )


async def test_a_card_and_its_pin_pay_and_neither_is_stored(m: Harness):
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    card = m.wallet.card(resident, PIN)
    answer = await m.pay_by_card(m.till(shop), card, PIN)
    assert answer.status == 201, answer
    assert answer.body["status"] == "redeemed" and answer.body["wallet_id"] == str(resident)
    assert m.wallet.balances[resident] == 75
    [redeemed] = [e for e in m.published() if isinstance(e, DiscountRedeemed)]
    assert redeemed.wallet_id == resident
    stored = _stored_text(m)
    assert card not in stored and f'"{PIN}"' not in stored
    # A card saves its hold before the capture: one transaction more than a code.
    r = m.store.get_now(UUID(answer.body["redemption_id"]), Redemption)
    assert r is not None and r.instrument == "card" and r.payment_code == ""


async def test_a_retry_with_the_same_key_answers_first_and_another_pin_is_refused(m: Harness):
    shop = await m.enrol()
    till = m.till(shop)
    card = m.wallet.card(m.wallet.resident(100), PIN)
    first = await m.pay_by_card(till, card, PIN, key="bill-1")
    again = await m.pay_by_card(till, card, PIN, key="bill-1")
    assert again.replayed and again.body == first.body
    assert m.wallet.count("hold") == 1 and m.wallet.count("capture") == 1
    with pytest.raises(IdempotencyConflict):
        await m.pay_by_card(till, card, "9999", key="bill-1")


async def test_a_wrong_pin_is_declined_with_attempts_left_and_replayed(m: Harness):
    shop = await m.enrol()
    till = m.till(shop)
    card = m.wallet.card(m.wallet.resident(100), PIN)
    wrong = await m.pay_by_card(till, card, "1111", key="bill-2")
    assert wrong.status == 409 and wrong.body["code"] == "pin_incorrect"
    assert wrong.body["attempts_left"] == 4
    again = await m.pay_by_card(till, card, "1111", key="bill-2")
    assert again.replayed and again.status == 409 and again.body["attempts_left"] == 4
    [declined] = [e for e in m.published() if isinstance(e, RedemptionDeclined)]
    assert declined.reason_code == "pin_incorrect"
    assert "attempts_left" not in declined.model_dump()
    right = await m.pay_by_card(till, card, PIN)
    assert right.status == 201


async def test_a_locked_card_is_423_and_an_unknown_one_card_invalid(m: Harness):
    shop = await m.enrol()
    card = m.wallet.card(m.wallet.resident(100), PIN)
    for _ in range(4):
        await m.pay_by_card(m.till(shop), card, "0000")
    locked = await m.pay_by_card(m.till(shop), card, "0000")
    assert locked.status == 423 and locked.body["code"] == "card_locked"
    still = await m.pay_by_card(m.till(shop), card, PIN)
    assert still.status == 423 and still.body["code"] == "card_locked"
    unknown = await m.pay_by_card(m.till(shop), "4800000000000000", PIN)
    assert unknown.status == 409 and unknown.body["code"] == "card_invalid"


async def test_wrong_pins_count_in_the_tills_lockout(m: Harness):
    shop = await m.enrol()
    till = m.till(shop)
    card = m.wallet.card(m.wallet.resident(100), PIN)
    await m.pay(till, "00000001")  # a guessed code
    for _ in range(3):
        await m.pay_by_card(till, card, "0000")  # wrong PINs
    await m.pay_by_card(till, "4800000000000001", PIN)  # a guessed card
    with pytest.raises(TillLocked):
        await m.pay_by_card(till, card, PIN)
    other = await m.pay_by_card(m.till(shop), m.wallet.card(m.wallet.resident(50), PIN), PIN)
    assert other.status == 201  # another till of the shop is not affected


async def test_a_card_redemption_left_started_is_declined_on_resume(m: Harness):
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    card = m.wallet.card(resident, PIN)
    m.wallet.down = True
    with pytest.raises(WalletDown):
        await m.pay_by_card(m.till(shop), card, PIN, key="k-card")
    m.wallet.down = False
    [rid] = [r.originator_id for r in m.application.recorder.select_notifications(1, 100)
             if r.topic.endswith("Redemption.Started")]  # fmt: skip
    young = await m.redemptions.resume(rid)  # its till may still wait on the wallet
    assert young is not None and young.status == 503 and young.body["status"] == STARTED
    m.clock.advance(seconds=61)
    answer = await m.redemptions.resume(rid)
    assert answer is not None and answer.status == 409
    assert answer.body["code"] == INTERRUPTED
    assert m.wallet.count("hold") == 0 and m.wallet.balances[resident] == 100


async def test_a_till_retry_of_a_started_card_redemption_repeats_the_hold(m: Harness):
    shop = await m.enrol()
    till = m.till(shop)
    card = m.wallet.card(m.wallet.resident(100), PIN)
    m.wallet.down = True
    with pytest.raises(WalletDown):
        await m.pay_by_card(till, card, PIN, key="k-card")
    m.wallet.down = False
    answer = await m.pay_by_card(till, card, PIN, key="k-card")
    assert answer.status == 201 and answer.replayed


async def _crash_after_card_hold(m: Harness) -> tuple[UUID, UUID, UUID]:
    """The wallet placed the hold; the merchant died before saving it."""
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    card = m.wallet.card(resident, PIN)
    real_save = m.store.save
    calls = 0

    async def dies_on_the_hold(*aggregates: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # 1: Started, 2: HoldPlaced
            raise Crashed("after_hold")
        await real_save(*aggregates)  # type: ignore[arg-type]

    m.store.save = dies_on_the_hold  # type: ignore[method-assign]
    with pytest.raises(Crashed):
        await m.pay_by_card(m.till(shop), card, PIN, key="k-crash")
    m.store.save = real_save  # type: ignore[method-assign]
    [rid] = [r.originator_id for r in m.application.recorder.select_notifications(1, 100)
             if r.topic.endswith("Redemption.Started")]  # fmt: skip
    [hold_id] = m.wallet.holds
    return rid, hold_id, resident


async def test_coins_held_on_the_wallet_topic_completes_an_open_card_redemption(m: Harness):
    rid, hold_id, resident = await _crash_after_card_hold(m)
    assert m.store.get_now(rid, Redemption).status == STARTED
    done = await m.redemptions.held_at_wallet(
        str(rid), hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert done and m.store.get_now(rid, Redemption).status == "redeemed"
    assert m.wallet.count("capture") == 1 and m.wallet.balances[resident] == 75
    again = await m.redemptions.held_at_wallet(
        str(rid), hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert not again
    assert len([e for e in m.published() if isinstance(e, DiscountRedeemed)]) == 1


async def test_coins_held_with_the_wallet_away_leaves_it_held_for_the_recoverer(m: Harness):
    rid, hold_id, resident = await _crash_after_card_hold(m)
    m.wallet.down = True
    assert await m.redemptions.held_at_wallet(
        str(rid), hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert m.store.get_now(rid, Redemption).status == HELD
    m.wallet.down = False
    answer = await m.redemptions.resume(rid)
    assert answer is not None and answer.body["status"] == "redeemed"


async def test_a_hold_read_after_the_recoverer_declined_is_released(m: Harness):
    rid, hold_id, resident = await _crash_after_card_hold(m)
    m.clock.advance(seconds=61)
    declined = await m.redemptions.resume(rid)
    assert declined is not None and declined.body["code"] == INTERRUPTED
    assert m.wallet.balances[resident] == 75  # held: it would expire at the wallet
    assert await m.redemptions.held_at_wallet(
        str(rid), hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert m.wallet.count("release") == 1 and m.wallet.balances[resident] == 100
    assert m.wallet.count("capture") == 0


async def test_coins_held_for_a_code_redemption_is_left_to_the_recoverer(m: Harness):
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    answer = await m.pay(m.till(shop), m.wallet.payment_code(resident))
    [hold_id] = m.wallet.holds
    assert not await m.redemptions.held_at_wallet(
        answer.body["redemption_id"], hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert not await m.redemptions.held_at_wallet(
        "not-ours", hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )


async def test_with_a_daily_cap_a_card_counts_like_a_code():
    m = Harness(Policy(daily_cap_coins=30))
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    card = m.wallet.card(resident, PIN)
    assert (await m.pay_by_card(m.till(shop), card, PIN, coins=25)).status == 201
    over = await m.pay_by_card(m.till(shop), card, PIN, coins=10)
    assert over.status == 409 and over.body["code"] == "daily_cap_reached"
    assert m.wallet.balances[resident] == 75
