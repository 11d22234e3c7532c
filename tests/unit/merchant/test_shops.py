"""Enrolment, suspension, rules; the contract table covers every stored event."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate

from kgo_contracts.merchant import ShopEnrolled, ShopSuspended
from services.merchant.adapters.contracts import CONTRACTS
from services.merchant.domain import circulation, receipt, redemption, shops
from services.merchant.domain.errors import AlreadyInState, IdempotencyConflict, InvalidShop
from services.merchant.domain.shops import ShopRules

from .conftest import FACTS, Harness

pytestmark = pytest.mark.unit


async def test_enrolment_opens_the_wallet_account_once_and_keeps_the_contact_out(m: Harness):
    first = await m.shops.enrol("admin", "e-1", FACTS, ShopRules(), {"phone": "+66 81"})
    again = await m.shops.enrol("admin", "e-1", FACTS, ShopRules(), {"phone": "+66 81"})
    assert again.replayed and again.body == first.body and m.wallet.count("payee") == 1
    [enrolled] = [e for e in m.published() if isinstance(e, ShopEnrolled)]
    assert enrolled.district == "Mueang Khon Kaen" and enrolled.size_class == "small"
    assert "+66" not in enrolled.model_dump_json()
    with pytest.raises(IdempotencyConflict):
        await m.shops.enrol("admin", "e-1", replace(FACTS, name="Other"), ShopRules(), {})


def test_a_district_outside_khon_kaen_and_silly_rules_are_refused():
    with pytest.raises(InvalidShop):
        replace(FACTS, district="Bang Rak")
    with pytest.raises(InvalidShop):
        replace(FACTS, latitude=13.7)
    with pytest.raises(InvalidShop):
        ShopRules(max_coin_share_percent=120)


async def test_suspend_twice_is_refused_and_published_once(m: Harness):
    shop = await m.enrol()
    await m.shops.suspend("admin", "s-1", shop, "inspection")
    with pytest.raises(AlreadyInState):
        await m.shops.suspend("admin", "s-2", shop, "again")
    assert len([e for e in m.published() if isinstance(e, ShopSuspended)]) == 1


def test_every_stored_event_class_has_an_entry_in_the_contract_table():
    stored = set()
    for module in (shops, redemption, circulation, receipt):
        for _, aggregate in inspect.getmembers(module, inspect.isclass):
            if issubclass(aggregate, Aggregate) and aggregate.__module__ == module.__name__:
                for _, event in inspect.getmembers(aggregate, inspect.isclass):
                    if issubclass(event, CanMutateAggregate) and hasattr(event, "TOPIC"):
                        stored.add(event)
    triggered = {e for e in stored if not e.__name__.startswith(("Created", "Finished"))}
    assert triggered - set(CONTRACTS) == set()
