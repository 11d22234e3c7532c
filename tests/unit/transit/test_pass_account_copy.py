"""A pass account's copy (what the repository hands a command from its cache) shares only
immutable values with the original: changing the copy never changes the cached account."""

from __future__ import annotations

import copy
from datetime import timedelta
from uuid import uuid4

import pytest

from services.transit.domain.fares import Fare
from services.transit.domain.passes import PassAccount
from services.transit.domain.taps import Tap

from .conftest import MORNING

pytestmark = pytest.mark.unit

IMMUTABLE = (str, int, bool, type(None), type(MORNING), type(uuid4()))


def tap(n: int) -> Tap:
    at = MORNING + timedelta(hours=n)
    return Tap(f"t{n}", "v1", "bus-01", "kk-1", "d" * 20, at, "regular")


def account_with_history() -> PassAccount:
    account = PassAccount.open("d" * 20)
    for n in range(3):
        account.count_ride(tap(n), Fare("one-baht", 50, 100, "one-baht-bus-2022"))
    account.confirm(tap(0).trip_id, uuid4())
    account.cover_shortfall(tap(1).trip_id, 50)
    account.collect_events()
    return account


def test_every_attribute_is_immutable_or_a_copied_container() -> None:
    account = account_with_history()
    for name, value in vars(account).items():
        assert name in PassAccount.CONTAINERS or isinstance(value, IMMUTABLE), name


def test_changing_the_copy_leaves_the_original_as_it_was() -> None:
    account = account_with_history()
    before = copy.copy(vars(account)) | {
        name: copy.copy(getattr(account, name)) for name in PassAccount.CONTAINERS
    }
    copied = copy.deepcopy(account)
    assert vars(copied) == vars(account)

    copied.count_ride(tap(10), Fare("one-baht", 50, 100, "one-baht-bus-2022"))
    copied.release(tap(2).trip_id)
    copied.cover_shortfall(tap(2).trip_id, 50)
    copied.deny("offline_allowance_exceeded", MORNING)

    assert vars(account) == before
    assert copied.version == account.version + 4 and len(copied.collect_events()) == 4
    assert account.collect_events() == []
