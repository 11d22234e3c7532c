"""The wallet's deterministic ids are exactly ``uuid5`` in the KGO namespace: ids stored
before ``kgo_id`` (receipts, movements, instruments, budgets) must be found again."""

from __future__ import annotations

from uuid import uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.wallet.domain.ids import KGO_NAMESPACE, budget_id, kgo_id, receipt_id
from services.wallet.domain.instruments import instrument_id

pytestmark = pytest.mark.unit


@given(st.text())
def test_kgo_id_is_uuid5_in_the_kgo_namespace(name: str) -> None:
    try:
        expected = uuid5(KGO_NAMESPACE, name)
    except UnicodeEncodeError:  # a lone surrogate: neither can make an id of it
        with pytest.raises(UnicodeEncodeError):
            kgo_id(name)
        return
    made = kgo_id(name)
    assert made == expected and str(made) == str(expected)
    assert (made.version, made.variant) == (5, expected.variant)


def test_the_ids_of_the_ledger_are_the_ones_it_always_made() -> None:
    assert receipt_id("caller", "key") == uuid5(KGO_NAMESPACE, "receipt:caller:key")
    assert budget_id("welcome") == uuid5(KGO_NAMESPACE, "account:budget:welcome")
    assert instrument_id("card", "ab" * 32) == uuid5(KGO_NAMESPACE, f"instrument:card:{'ab' * 32}")
