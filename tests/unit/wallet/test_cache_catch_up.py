"""The writer's cache brought up to date with events another writer stored (writers' turns,
services/wallet/application/ledger.py): applied in order, or the copy evicted."""

from __future__ import annotations

from dataclasses import replace

from services.wallet.application import commands as c
from services.wallet.application.unit_of_work import AggregateCache


def _history(treasury, funded):
    wallet = funded(100)
    treasury.run(
        c.Grant, programme="welcome", wallet_id=wallet, amount=50, reason="r", reference="x"
    )
    stored = list(treasury.ledger.recorder.select_events(wallet))
    return wallet, stored


def test_a_copy_one_event_behind_is_brought_up_to_date(treasury, funded):
    wallet, stored = _history(treasury, funded)
    ledger = treasury.ledger
    behind = ledger.repository.get(wallet, version=stored[-2].originator_version)
    assert behind.available == 100
    cache = AggregateCache(10)
    cache.put(wallet, behind)
    # Events the copy already has are passed over; the missing one is applied.
    assert cache.catch_up(stored, ledger.mapper.to_domain_event) == 1
    assert cache.get(wallet) is behind
    assert (behind.available, behind.version) == (150, stored[-1].originator_version)
    assert cache.catch_up(stored, ledger.mapper.to_domain_event) == 0  # nothing new


def test_a_copy_missing_an_earlier_event_is_evicted(treasury, funded):
    wallet, stored = _history(treasury, funded)
    ledger = treasury.ledger
    cache = AggregateCache(10)
    cache.put(wallet, ledger.repository.get(wallet, version=stored[0].originator_version))
    assert cache.catch_up(stored[-1:], ledger.mapper.to_domain_event) == 0
    assert cache.get(wallet) is None  # read again from the store, not decided on a guess


def test_an_event_that_cannot_be_applied_evicts_the_copy(treasury, funded):
    wallet, stored = _history(treasury, funded)
    ledger = treasury.ledger
    cache = AggregateCache(10)
    cache.put(wallet, ledger.repository.get(wallet, version=stored[-2].originator_version))
    broken = replace(stored[-1], state=b"not an event")
    assert cache.catch_up([broken], ledger.mapper.to_domain_event) == 0
    assert cache.get(wallet) is None


def test_what_is_not_cached_is_not_read(treasury, funded):
    wallet, stored = _history(treasury, funded)
    cache = AggregateCache(10)

    def never(_record):
        raise AssertionError("decoded an event of an aggregate that is not cached")

    assert cache.catch_up(stored, never) == 0
    assert cache.get(wallet) is None
