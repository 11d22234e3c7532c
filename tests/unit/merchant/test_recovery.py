"""A crash between the wallet's capture and the merchant's own record: the redemption is
finished on restart (resume) or from the wallet topic; no coin is taken twice."""

from __future__ import annotations

from uuid import UUID

import pytest

from kgo_contracts.merchant import DiscountRedeemed
from services.merchant.application.ports import WalletDown
from services.merchant.domain.redemption import STARTED, Redemption

from .conftest import Crashed, Harness

pytestmark = pytest.mark.unit


async def _crash_after_capture(m: Harness) -> tuple[UUID, UUID]:
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    m.till_used, m.code_used = m.till(shop), m.wallet.payment_code(resident)
    m.crash.armed.add("after_capture")
    with pytest.raises(Crashed):
        await m.pay(m.till_used, m.code_used, key="k-crash")
    [r] = [
        e
        for e in m.application.recorder.select_notifications(1, 100)
        if e.topic.endswith("Redemption.Started")
    ]
    return r.originator_id, resident


async def test_resume_after_a_crash_records_the_redemption_once(m: Harness):
    rid, resident = await _crash_after_capture(m)
    assert m.store.get_now(rid, Redemption).status == STARTED
    answer = await m.redemptions.resume(rid)
    assert answer is not None and answer.body["status"] == "redeemed"
    assert m.wallet.count("capture") == 1 and m.wallet.balances[resident] == 75
    assert len([e for e in m.published() if isinstance(e, DiscountRedeemed)]) == 1


async def test_the_wallet_topic_finishes_a_captured_redemption(m: Harness):
    rid, resident = await _crash_after_capture(m)
    [hold_id] = m.wallet.holds
    recorded = await m.redemptions.captured_at_wallet(
        str(rid), hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert recorded
    again = await m.redemptions.captured_at_wallet(
        str(rid), hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert not again
    assert not await m.redemptions.captured_at_wallet(
        "not-ours", hold_id=hold_id, wallet_id=resident, at=m.clock.now()
    )
    assert len([e for e in m.published() if isinstance(e, DiscountRedeemed)]) == 1


async def test_a_till_retry_after_the_crash_gets_the_approval(m: Harness):
    await _crash_after_capture(m)
    answer = await m.pay(m.till_used, m.code_used, key="k-crash")
    assert answer.status == 201 and answer.replayed and answer.body["status"] == "redeemed"
    assert m.wallet.count("capture") == 1


async def test_a_wallet_that_does_not_answer_leaves_the_redemption_to_resume(m: Harness):
    shop = await m.enrol()
    resident = m.wallet.resident(100)
    code = m.wallet.payment_code(resident)
    m.wallet.down = True
    with pytest.raises(WalletDown):
        await m.pay(m.till(shop), code, key="k-down")
    m.wallet.down = False
    answer = await m.pay(m.till(shop), code, key="k-down")
    assert answer.status == 201 and answer.replayed


async def test_the_wallet_topic_handler_feeds_hold_captured_through_the_consumers_dispatch(
    m: Harness,
):
    from datetime import datetime
    from uuid import uuid4

    from kgo_contracts.examples import examples_of
    from kgo_contracts.wallet import HoldCaptured, PaymentReceived
    from kgo_runtime.envelope import Envelope
    from services.merchant.entrypoints.background import wallet_handler

    rid, resident = await _crash_after_capture(m)
    [hold_id] = m.wallet.holds
    story = examples_of(HoldCaptured)[0]
    captured = story.model_copy(
        update={"account_id": resident, "hold_id": hold_id, "reference": str(rid)}
    )
    handler = wallet_handler(type("Container", (), {"redemptions": m.redemptions})())  # type: ignore[arg-type]

    def envelope(event: object) -> Envelope:
        return Envelope(str(uuid4()), "/kgo/wallet", "t", datetime.now(), "s", event)  # type: ignore[arg-type]

    await handler(None, envelope(examples_of(PaymentReceived)[0]))  # other types: ignored
    await handler(None, envelope(story))  # the story's own redemption is not ours: ignored
    assert m.store.get_now(rid, Redemption).status == STARTED
    await handler(None, envelope(captured))
    assert m.store.get_now(rid, Redemption).status == "redeemed"


async def test_with_a_daily_cap_the_hold_is_saved_first_and_resumed_from_there():
    from services.merchant.application.redemptions import Policy
    from services.merchant.domain.redemption import HELD

    m = Harness(Policy(daily_cap_coins=100))
    rid, resident = await _crash_after_capture(m)
    assert m.store.get_now(rid, Redemption).status == HELD
    answer = await m.redemptions.resume(rid)
    assert answer is not None and answer.body["status"] == "redeemed"
    assert m.wallet.count("hold") == 1 and m.wallet.count("capture") == 1
    assert m.wallet.balances[resident] == 75
