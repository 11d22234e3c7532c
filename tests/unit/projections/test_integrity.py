"""The integrity rules on crafted event sequences (contract examples with changed fields),
through the same application code the consumer runs, on an in-memory store."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from kgo_contracts import merchant as mc
from kgo_contracts import transit as tr
from kgo_contracts import wallet as w
from kgo_contracts.base import ContractEvent
from kgo_contracts.examples import examples, examples_of
from kgo_runtime.metrics import Metrics
from services.projections.application.integrity import IntegrityRules
from services.projections.domain.integrity import Flag, FlagKind
from services.projections.entrypoints.integrity import IntegrityMetrics
from services.projections.integrity_settings import IntegritySettings

from .integrity_fakes import InMemoryIntegrityStore

pytestmark = pytest.mark.unit

SHOP = examples_of(mc.ShopEnrolled)[0]  # 1 coin = 1 baht, coins up to 50% of a bill, cap 200
REDEEMED = examples_of(mc.DiscountRedeemed)[0]
CAPTURED = examples_of(w.HoldCaptured)[0]
REWARD = examples_of(w.RewardPaid)[0]
FARE = examples_of(tr.FarePaid)[0]
OPENED = next(e for e in examples_of(w.AccountOpened) if e.account_kind == "resident")
T0 = REDEEMED.occurred_at


def like(example: ContractEvent, **changes: Any) -> ContractEvent:
    return example.model_copy(update=changes)


async def run(events: list[ContractEvent], **settings: Any) -> tuple[list[Flag], Any]:
    store = InMemoryIntegrityStore()
    rules = IntegrityRules(store, IntegritySettings(**settings))
    await rules.apply((e.wire_name, e) for e in events)
    return list(store.flags.values()), store


def kinds(flags: list[Flag]) -> set[FlagKind]:
    return {f.kind for f in flags}


def redemption(wallet: UUID, coins: int, bill_satang: int, hours: float) -> ContractEvent:
    return like(REDEEMED, redemption_id=uuid4(), wallet_id=wallet, coins=coins,
                discount_satang=coins * 100, bill_satang=bill_satang,
                occurred_at=T0 + timedelta(hours=hours))  # fmt: skip


async def test_the_contract_examples_raise_no_flag() -> None:
    flags, store = await run(list(examples()))
    assert flags == []
    assert store.business_time is not None


async def test_a_pair_redeeming_at_the_bills_limit_again_and_again() -> None:
    wallet = uuid4()
    # A 120-baht bill allows 60 coins (50%): redeemed at the limit on five days of a week.
    at_limit = [redemption(wallet, 60, 12_000, 24 * d) for d in range(5)]
    flags, _ = await run([SHOP, *at_limit[:4]])
    assert FlagKind.PAIR_AT_CAP not in kinds(flags)
    flags, _ = await run([SHOP, *at_limit])
    (flag,) = [f for f in flags if f.kind is FlagKind.PAIR_AT_CAP]
    assert flag.accounts == (wallet,) and flag.shop_id == SHOP.shop_id
    assert flag.evidence["at_cap"] == 5
    assert "5 times in 7 days" in flag.reason and str(wallet) in flag.reason
    # Below the limit, or a week apart, or voided: not a pattern.
    below = [redemption(wallet, 59, 12_000, 24 * d) for d in range(5)]
    spread = [redemption(wallet, 60, 12_000, 24 * 8 * d) for d in range(5)]
    void = like(examples_of(mc.RedemptionVoided)[0], redemption_id=at_limit[0].redemption_id,
                wallet_id=wallet, occurred_at=T0 + timedelta(hours=1))  # fmt: skip
    for events in (below, spread, [at_limit[0], void, *at_limit[1:]]):
        flags, _ = await run([SHOP, *events])
        assert FlagKind.PAIR_AT_CAP not in kinds(flags)


async def test_redelivered_redemptions_count_once() -> None:
    wallet = uuid4()
    once = [redemption(wallet, 60, 12_000, d) for d in range(4)]
    flags, store = await run([SHOP, *once, *once, *once])
    assert FlagKind.PAIR_AT_CAP not in kinds(flags)
    assert len(store.redemptions) == 4


async def test_a_shop_whose_redemptions_sit_just_under_its_cap() -> None:
    # Cap 200 per bill, 10% margin: 180-199 coins is just under. Big bills (share allows 250).
    under = [redemption(uuid4(), 195, 50_000, h) for h in range(5)]
    flags, _ = await run([SHOP, *under])
    (flag,) = [f for f in flags if f.kind is FlagKind.JUST_UNDER_CAP]
    assert flag.shop_id == SHOP.shop_id and flag.evidence["just_under"] == 5
    assert "just under its per-bill cap" in flag.reason
    # The same five after many ordinary redemptions: under half, not flagged (a flag once
    # raised stays: it is evidence of that moment).
    ordinary = [redemption(uuid4(), 20, 10_000, h - 10) for h in range(6)]
    flags, _ = await run([SHOP, *ordinary, *under])
    assert FlagKind.JUST_UNDER_CAP not in kinds(flags)
    # Exactly at the cap is not "just under".
    flags, _ = await run([SHOP, *(redemption(uuid4(), 200, 50_000, h) for h in range(5))])
    assert FlagKind.JUST_UNDER_CAP not in kinds(flags)


async def test_a_shop_whose_coins_come_from_a_few_residents() -> None:
    a, b = uuid4(), uuid4()
    few = [redemption(a if i % 2 else b, 50, 12_000, i) for i in range(12)]  # 600 coins
    flags, _ = await run([SHOP, *few])
    (flag,) = [f for f in flags if f.kind is FlagKind.FEW_RESIDENTS]
    assert set(flag.accounts) == {a, b} and flag.evidence["coins"] == 600
    assert "100%" in flag.reason
    many = [redemption(uuid4(), 50, 12_000, i) for i in range(12)]
    flags, _ = await run([SHOP, *many])
    assert FlagKind.FEW_RESIDENTS not in kinds(flags)
    small = few[:8]  # 400 coins: under the 500 a shop must take before it is judged
    flags, _ = await run([SHOP, *small])
    assert FlagKind.FEW_RESIDENTS not in kinds(flags)


def paid(debit: ContractEvent, payer: UUID, payer_kind: str, payee: UUID, payee_kind: str,
         coins: int, hours: float) -> ContractEvent:  # fmt: skip
    return like(debit, movement_id=uuid4(), account_id=payer, account_kind=payer_kind,
                counter_account_id=payee, counter_account_kind=payee_kind, amount=coins,
                occurred_at=T0 + timedelta(hours=hours))  # fmt: skip


async def test_coins_going_round_a_resident_and_a_shop() -> None:
    resident, shop = uuid4(), uuid4()
    spend = paid(CAPTURED, resident, "resident", shop, "shop", 150, 0)
    back = paid(REWARD, shop, "shop", resident, "resident", 120, 2)
    flags, _ = await run([spend, back])
    (flag,) = flags
    assert flag.kind is FlagKind.COIN_CYCLE and set(flag.accounts) == {resident, shop}
    assert flag.evidence["coins"] == 120
    # The same cycle seen from the other edge first is the same flag.
    flags, _ = await run([back, spend])
    assert [f.flag_id for f in flags] == [flag.flag_id]
    # A small loyalty reward is no cycle worth a look.
    flags, _ = await run([spend, paid(REWARD, shop, "shop", resident, "resident", 5, 2)])
    assert flags == []


async def test_a_ring_of_four_accounts() -> None:
    a, s1, b, s2 = uuid4(), uuid4(), uuid4(), uuid4()
    ring = [
        paid(CAPTURED, a, "resident", s1, "shop", 200, 0),
        paid(REWARD, s1, "shop", b, "resident", 190, 1),
        paid(CAPTURED, b, "resident", s2, "shop", 180, 2),
        paid(REWARD, s2, "shop", a, "resident", 170, 3),
    ]
    flags, _ = await run(ring)
    (flag,) = flags
    assert set(flag.accounts) == {a, s1, b, s2} and flag.evidence["coins"] == 170
    flags, _ = await run(ring, cycle_max_accounts=3)
    assert flags == []


async def test_a_burst_of_sign_ups() -> None:
    start = OPENED.occurred_at.replace(minute=0)
    opened = [like(OPENED, account_id=uuid4(), occurred_at=start + timedelta(seconds=10 * i))
              for i in range(50)]  # fmt: skip
    flags, _ = await run(opened[:49])
    assert flags == []
    flags, _ = await run(opened)
    (flag,) = flags
    assert flag.kind is FlagKind.SIGNUP_BURST and flag.evidence["opened"] == 50
    assert flag.accounts == ()  # a burst names no resident
    shops = [like(o, account_kind="shop") for o in opened]
    assert (await run(shops))[0] == []


DEVICE, NETWORK, ELSEWHERE = "d" * 32, "a" * 32, "b" * 32


def signup(minutes: float, device: str | None = DEVICE, network: str = NETWORK) -> ContractEvent:
    at = OPENED.occurred_at.replace(hour=9, minute=0) + timedelta(minutes=minutes)
    return like(OPENED, account_id=uuid4(), occurred_at=at, origin_device=device,
                origin_network=network)  # fmt: skip


async def test_sign_ups_from_one_device_within_an_hour() -> None:
    four = [signup(15 * i) for i in range(4)]  # the defaults: 4 within 60 minutes
    flags, _ = await run(four[:3])
    assert flags == []  # a household shares a phone for two or three
    flags, _ = await run(four)
    (flag,) = flags
    assert flag.kind is FlagKind.SIGNUP_ORIGIN_BURST and flag.subject == f"device:{DEVICE}"
    assert set(flag.accounts) == {e.account_id for e in four}  # type: ignore[attr-defined]
    assert flag.evidence == {"opened": 4, "minutes": 60, "threshold": 4, "by": "device",
                             "origin": DEVICE}  # fmt: skip
    assert "4 resident wallets opened from one device within 60 minutes" in flag.reason
    assert "(flagged from 4)" in flag.reason and "names no device" in flag.reason
    # late and out of order: judged by their own times
    assert kinds((await run(list(reversed(four))))[0]) == {FlagKind.SIGNUP_ORIGIN_BURST}
    # spread over the day, or from four devices: nothing
    assert (await run([signup(90 * i) for i in range(4)]))[0] == []
    spread = [signup(i, device=f"{i:032x}", network=f"{i + 10:032x}") for i in range(4)]
    assert (await run(spread))[0] == []


async def test_sign_ups_from_one_network_need_more_than_from_one_device() -> None:
    """A mobile carrier's NAT puts many residents behind one network: the network's threshold
    is higher, and a farm that sends a new device id each time is still caught by it."""
    nineteen = [signup(2 * i, device=f"{i:032x}") for i in range(19)]
    assert (await run(nineteen))[0] == []
    flags, _ = await run([*nineteen, signup(40, device=None)])
    (flag,) = flags
    assert flag.subject == f"network:{NETWORK}" and flag.evidence["opened"] == 20
    assert "one network (IPv4 /24 or IPv6 /56)" in flag.reason
    flags, _ = await run(nineteen[:3], signup_network_min=3, signup_origin_minutes=5)
    assert kinds(flags) == {FlagKind.SIGNUP_ORIGIN_BURST}


async def test_sign_ups_without_an_origin_and_other_accounts_count_no_origin() -> None:
    counter = [like(OPENED, account_id=uuid4()) for _ in range(5)]  # opened at a counter
    shops = [like(signup(i), account_kind="shop") for i in range(5)]
    assert (await run([*counter, *shops]))[0] == []


def fare(wallet: UUID, validator: str, seconds: float) -> ContractEvent:
    return like(FARE, trip_id=uuid4(), wallet_id=wallet, validator_id=validator,
                occurred_at=T0 + timedelta(seconds=seconds))  # fmt: skip


async def test_one_pass_on_many_validators_within_minutes() -> None:
    rider = uuid4()
    hops = [fare(rider, f"KKB-0{i}-V01", 120 * i) for i in range(3)]  # three buses in 4 min
    flags, _ = await run(hops)
    (flag,) = flags
    assert flag.kind is FlagKind.PASS_ON_MANY_VALIDATORS and flag.accounts == (rider,)
    assert "3 validators" in flag.reason
    # A change of bus and a ride home hours later is what buses do.
    day = [fare(rider, "KKB-01-V01", 0), fare(rider, "KKB-02-V01", 900),
           fare(rider, "KKB-03-V01", 6 * 3600)]  # fmt: skip
    assert (await run(day))[0] == []


async def test_one_pass_paying_every_few_seconds() -> None:
    rider = uuid4()
    rapid = [fare(rider, "KKB-07-V02", 15 * i) for i in range(3)]
    flags, _ = await run(rapid)
    (flag,) = flags
    assert flag.kind is FlagKind.PASS_RAPID_TAPS and flag.evidence["fares"] == 3
    # Offline taps arrive late and out of order: judged by their own tap times.
    flags, _ = await run(list(reversed(rapid)))
    assert kinds(flags) == {FlagKind.PASS_RAPID_TAPS}
    slow = [fare(rider, "KKB-07-V02", 600 * i) for i in range(3)]
    assert (await run(slow))[0] == []


async def test_thresholds_are_settings() -> None:
    rider = uuid4()
    two = [fare(rider, "KKB-07-V02", 0), fare(rider, "KKB-07-V02", 5)]
    assert (await run(two))[0] == []
    flags, _ = await run(two, rapid_taps_min=2)
    assert kinds(flags) == {FlagKind.PASS_RAPID_TAPS}


class _Counts:
    def __init__(self) -> None:
        self.now: dict[str, int] = {}

    async def counts(self) -> dict[str, int]:
        return dict(self.now)


async def test_metrics_count_flags_by_kind_only() -> None:
    metrics, counts = Metrics("projections"), _Counts()
    integrity = IntegrityMetrics(metrics, counts)  # type: ignore[arg-type]
    counts.now = {"pair_at_cap": 2}
    await integrity.refresh()  # what was there before this process started is not "raised"
    counts.now = {"pair_at_cap": 3, "coin_cycle": 1}
    await integrity.refresh()
    text = metrics.render().decode()
    assert 'kgo_integrity_flags{kind="pair_at_cap"} 3.0' in text
    assert 'kgo_integrity_flags_raised_total{kind="pair_at_cap"} 1.0' in text
    assert 'kgo_integrity_flags_raised_total{kind="coin_cycle"} 1.0' in text
    assert 'kgo_integrity_flags{kind="signup_burst"} 0.0' in text
    labels = {k for m in metrics.registry.collect() if m.name.startswith("kgo_integrity")
              for s in m.samples for k in s.labels}  # fmt: skip
    assert labels == {"kind"}


async def test_a_batch_of_fares_decides_as_one_at_a_time() -> None:
    """Fares judged together in one batch (one insert, one read of their windows) raise the
    same flags with the same evidence as the same fares applied one by one: each fare sees
    the fares stored before the batch and the batch's own fares before it, not after it; a
    fare delivered twice counts once."""
    rng = random.Random(17)
    riders = [uuid4() for _ in range(4)]
    story = [
        fare(rng.choice(riders), f"KKB-0{rng.randint(1, 4)}-V01", rng.randint(0, 3_600))
        for _ in range(120)
    ]
    story += [rng.choice(story) for _ in range(15)]  # re-deliveries, in the batch
    rng.shuffle(story)
    settings: dict[str, Any] = {"rapid_taps_min": 3, "tap_validators_min": 3}

    one_by_one, together = InMemoryIntegrityStore(), InMemoryIntegrityStore()
    alone = IntegrityRules(one_by_one, IntegritySettings(**settings))
    batched = IntegrityRules(together, IntegritySettings(**settings))
    for e in story[:40]:  # stored before the batch, as earlier batches would have
        await alone.apply([(e.wire_name, e)])
        await batched.apply([(e.wire_name, e)])
    raised_alone: list[Flag] = []
    for e in story[40:]:
        raised_alone += await alone.apply([(e.wire_name, e)])
    raised = await batched.apply((e.wire_name, e) for e in story[40:])

    assert raised == raised_alone
    assert together.flags == one_by_one.flags
    assert together.fares == one_by_one.fares
    assert kinds(list(together.flags.values())) == {
        FlagKind.PASS_RAPID_TAPS,
        FlagKind.PASS_ON_MANY_VALIDATORS,
    }
