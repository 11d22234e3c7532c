"""Example events: one consistent morning in Khon Kaen, 10 June 2022.

They are the ``examples`` of the published JSON Schemas and AsyncAPI messages. The wallet
records tell one whole story (genesis, a welcome grant, a refused grant, a shop redemption
through a hold, a bus fare, an expired hold, then the coins circulating on: a refund, a
shop's reward, an offline fare covered by the loss budget, a shop's settlement), so they
fold without error and conserve the supply; the tests check that. Every id is pseudonymous
and made up.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID, uuid5

from .base import BANGKOK, AccountKind, ContractEvent
from .wallet import (
    AccountOpened,
    CoinsGranted,
    CoinsHeld,
    CoinsRefunded,
    CoinsRewarded,
    CoinsSettled,
    CoinsSpent,
    CoinsTransferredIn,
    CoinsTransferredOut,
    GrantDisbursed,
    GrantRefused,
    HoldCaptured,
    HoldExpired,
    HoldReleased,
    PaymentReceived,
    RefundPaid,
    ResidentErased,
    RewardPaid,
    SettlementPaid,
    ShortfallCompensated,
    ShortfallCovered,
    SupplyMinted,
)

_NAMESPACE = UUID("5d0c6f2e-8a4b-4f4e-9c1d-6b6b3c0e4a10")


def _id(name: str) -> UUID:
    return uuid5(_NAMESPACE, name)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2022, 6, 10, hour, minute, tzinfo=BANGKOK)


ISSUER, MUNICIPALITY, BUDGET = _id("issuer"), _id("municipality"), _id("budget-welcome")
RESIDENT, SHOP, OPERATOR = _id("resident-1"), _id("shop-1"), _id("operator-city-bus")
LOSS_BUDGET = _id("budget-offline-loss")
KIND: dict[UUID, AccountKind] = {
    ISSUER: "issuer",
    MUNICIPALITY: "municipality",
    BUDGET: "budget",
    LOSS_BUDGET: "budget",
    RESIDENT: "resident",
    SHOP: "shop",
    OPERATOR: "operator",
}
SUPPLY = 1_000_000
SHOP_REF, OPERATOR_REF = _id("merchant-shop-1"), _id("transit-operator-1")
COMPLETION, REFUSED_COMPLETION = _id("completion-1"), _id("completion-2")
REDEMPTION, TRIP = _id("redemption-1"), _id("trip-1")
PAID_HOLD, EXPIRED_HOLD = _id("hold-1"), _id("hold-2")
VOIDED_REDEMPTION, VOIDED_HOLD = _id("redemption-4"), _id("hold-3")
OFFLINE_TRIP, SETTLEMENT_PAYMENT = _id("trip-2-offline"), _id("settlement-payment-1")
OPERATOR_PAYMENT = _id("operator-payment-1")


#: An event class and its fields, before the record gets its ``account_version``.
Spec = tuple[type[ContractEvent], dict[str, Any]]


def _opened(account: UUID, at: datetime, **extra: Any) -> Spec:
    return AccountOpened, {
        "account_id": account,
        "account_kind": KIND[account],
        "occurred_at": at,
        **extra,
    }


def _entry(
    cls: type[ContractEvent],
    account: UUID,
    movement: str,
    amount: int,
    after: tuple[int, int],
    at: datetime,
    **extra: Any,
) -> Spec:
    """A ledger entry on ``account``; ``counter`` in ``extra`` adds the counterparty."""
    counter: UUID | None = extra.pop("counter", None)
    if counter is not None:
        extra |= {"counter_account_id": counter, "counter_account_kind": KIND[counter]}
    return cls, {
        "account_id": account,
        "account_kind": KIND[account],
        "movement_id": _id(f"movement {movement}"),
        "amount": amount,
        "available_after": after[0],
        "held_after": after[1],
        "occurred_at": at,
        **extra,
    }


def _numbered(specs: list[Spec]) -> list[ContractEvent]:
    """The records, each with its place in its account's history (AccountOpened is 1)."""
    versions: Counter[UUID] = Counter()
    records = []
    for cls, fields in specs:
        versions[fields["account_id"]] += 1
        records.append(cls(**fields, account_version=versions[fields["account_id"]]))
    return records


def _legs(
    debit: type[ContractEvent],
    credit: type[ContractEvent],
    accounts: tuple[UUID, UUID],
    movement: str,
    amount: int,
    afters: tuple[tuple[int, int], tuple[int, int]],
    at: datetime,
    **extra: Any,
) -> list[Spec]:
    """Both legs of a movement from ``accounts[0]`` (payer) to ``accounts[1]`` (payee)."""
    payer, payee = accounts
    return [
        _entry(debit, payer, movement, amount, afters[0], at, counter=payee, **extra),
        _entry(credit, payee, movement, amount, afters[1], at, counter=payer, **extra),
    ]


def _wallet_story() -> list[Spec]:
    allocation: dict[str, Any] = {"purpose": "allocation", "memo": "Welcome campaign, June 2022"}
    grant: dict[str, Any] = {
        "programme": "welcome",
        "reason": "signup bonus",
        "reference": str(COMPLETION),
    }
    transfer, refused = (CoinsTransferredOut, CoinsTransferredIn), _id("movement refused")
    return [
        _opened(ISSUER, _at(6), label="KGO issuer"),
        _opened(MUNICIPALITY, _at(6), label="Khon Kaen Municipality"),
        _opened(BUDGET, _at(6), programme="welcome", label="Welcome bonus budget"),
        _entry(SupplyMinted, ISSUER, "mint", SUPPLY, (SUPPLY, 0), _at(6, 1), total_supply=SUPPLY),
        *_legs(*transfer, (ISSUER, MUNICIPALITY), "genesis", SUPPLY, ((0, 0), (SUPPLY, 0)),
               _at(6, 2), purpose="genesis"),
        *_legs(*transfer, (MUNICIPALITY, BUDGET), "allocation", 400_000,
               ((600_000, 0), (400_000, 0)), _at(6, 3), **allocation),
        _opened(LOSS_BUDGET, _at(6, 4), programme="offline-loss", label="Offline fares lost"),
        *_legs(*transfer, (MUNICIPALITY, LOSS_BUDGET), "allocation-loss", 1_000,
               ((599_000, 0), (1_000, 0)), _at(6, 5), purpose="allocation", memo="loss reserve"),
        _opened(RESIDENT, _at(7, 30)),
        *_legs(GrantDisbursed, CoinsGranted, (BUDGET, RESIDENT), "grant", 100,
               ((399_900, 0), (100, 0)), _at(7, 31), **grant),
        (GrantRefused, {"account_id": BUDGET, "account_kind": "budget", "occurred_at": _at(7, 40),
                        "movement_id": refused, "programme": "welcome", "amount": 500_000,
                        "resident_account_id": RESIDENT, "reason_code": "budget_exhausted",
                        "available": 399_900, "reason": "festival award",
                        "reference": str(REFUSED_COMPLETION)}),
        _opened(SHOP, _at(8), label="Som Tam Bueng Kaen Nakhon", external_ref=str(SHOP_REF)),
        _opened(OPERATOR, _at(8), label="Khon Kaen City Bus", external_ref=str(OPERATOR_REF)),
        _entry(CoinsHeld, RESIDENT, "hold-1", 30, (70, 30), _at(8, 15), hold_id=PAID_HOLD,
               payee_account_id=SHOP, expires_at=_at(8, 25), reference=str(REDEMPTION)),
        *_legs(HoldCaptured, PaymentReceived, (RESIDENT, SHOP), "capture-1", 25,
               ((70, 5), (25, 0)), _at(8, 16), hold_id=PAID_HOLD, reference=str(REDEMPTION)),
        _entry(HoldReleased, RESIDENT, "release-1", 5, (75, 0), _at(8, 16), hold_id=PAID_HOLD,
               reason="capture_remainder"),
        *_legs(CoinsSpent, PaymentReceived, (RESIDENT, OPERATOR), "fare-1", 50,
               ((25, 0), (50, 0)), _at(8, 40), reference=str(TRIP)),
        _entry(CoinsHeld, RESIDENT, "hold-2", 20, (5, 20), _at(9), hold_id=EXPIRED_HOLD,
               payee_account_id=SHOP, expires_at=_at(9, 10), reference=str(_id("redemption-2"))),
        _entry(HoldExpired, RESIDENT, "expiry-2", 20, (25, 0), _at(9, 10), hold_id=EXPIRED_HOLD,
               expires_at=_at(9, 10)),
        # A second redemption at the shop, voided at 09:30 (examples_merchant.py).
        _entry(CoinsHeld, RESIDENT, "hold-3", 20, (5, 20), _at(9, 15), hold_id=VOIDED_HOLD,
               payee_account_id=SHOP, expires_at=_at(9, 25), reference=str(VOIDED_REDEMPTION)),
        *_legs(HoldCaptured, PaymentReceived, (RESIDENT, SHOP), "capture-3", 20,
               ((5, 0), (45, 0)), _at(9, 16), hold_id=VOIDED_HOLD,
               reference=str(VOIDED_REDEMPTION)),
        *_legs(RefundPaid, CoinsRefunded, (SHOP, RESIDENT), "refund-1", 20, ((25, 0), (25, 0)),
               _at(9, 30), reference=str(VOIDED_REDEMPTION)),
        *_legs(RewardPaid, CoinsRewarded, (SHOP, RESIDENT), "reward-1", 5, ((20, 0), (30, 0)),
               _at(9, 45), reference=str(_id("reward-1"))),
        *_legs(ShortfallCovered, ShortfallCompensated, (LOSS_BUDGET, OPERATOR), "shortfall-1",
               50, ((950, 0), (100, 0)), _at(10), programme="offline-loss",
               rider_account_id=RESIDENT, reference=str(OFFLINE_TRIP)),
        *_legs(SettlementPaid, CoinsSettled, (SHOP, BUDGET), "settlement-1", 20,
               ((0, 0), (399_920, 0)), _at(17), programme="welcome", baht_satang=2_000,
               payment_reference=str(SETTLEMENT_PAYMENT)),
        *_legs(SettlementPaid, CoinsSettled, (OPERATOR, BUDGET), "operator-settlement-1", 100,
               ((0, 0), (400_020, 0)), _at(17, 30), programme="welcome", baht_satang=10_000,
               payment_reference=str(OPERATOR_PAYMENT)),
    ]  # fmt: skip


def _other_events() -> list[ContractEvent]:
    """Each publishing service's examples live in ``examples_<service>.py`` and reuse this
    story's ids (imported here, not at the top: those modules import this one)."""
    from . import examples_digests, examples_merchant, examples_missions, examples_transit

    return [
        *examples_missions.examples(),
        *examples_merchant.examples(),
        *examples_transit.examples(),
        *examples_digests.examples(),
    ]


@cache
def wallet_story() -> tuple[ContractEvent, ...]:
    """The wallet's records of the story, in the order the wallet stored them. Built on first
    use, not at import: a contract change that breaks an example must not break ``kgo``."""
    return tuple(_numbered(_wallet_story()))


#: A second resident, who asked to be erased the next morning (outside the day's story).
ERASED_RESIDENT = _id("resident-2-erased")


def _erasure_examples() -> list[ContractEvent]:
    at = datetime(2022, 6, 11, 9, 0, tzinfo=BANGKOK)
    return [
        AccountOpened(account_id=ERASED_RESIDENT, account_kind="resident", account_version=1,
                      occurred_at=datetime(2022, 6, 10, 7, 45, tzinfo=BANGKOK)),
        ResidentErased(account_id=ERASED_RESIDENT, account_kind="resident", account_version=2,
                       occurred_at=at, reference="PDPA-2022-0001",
                       balance_disposition="frozen", coins_frozen=0),
    ]  # fmt: skip


@cache
def examples() -> tuple[ContractEvent, ...]:
    return wallet_story() + tuple(_erasure_examples()) + tuple(_other_events())


def examples_of(event: type[ContractEvent]) -> list[ContractEvent]:
    return [e for e in examples() if type(e) is event]


def example_ce_id(event: ContractEvent) -> str:
    """A stable CloudEvents id for an example: the same event always gets the same id."""
    return str(uuid5(_NAMESPACE, f"{event.ce_type()} {event.model_dump_json()}"))
