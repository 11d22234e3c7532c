"""Receipt scopes read back one way only, in every service that keeps receipts."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kgo_runtime.access import Principal, Role
from kgo_runtime.writes import receipt_scope
from services.merchant.domain.ids import receipt_id as merchant_receipt
from services.missions.domain.ids import receipt_id as missions_receipt
from services.transit.domain.ids import receipt_key as transit_receipt
from services.wallet.domain.ids import receipt_id as wallet_receipt

pytestmark = pytest.mark.unit

RECEIPTS: list[Callable[[str, str], UUID]] = [
    wallet_receipt, missions_receipt, merchant_receipt, transit_receipt
]  # fmt: skip


def principal(name: str, subject: str | None = None, role: Role = Role.SERVICE) -> Principal:
    return Principal(token_id=uuid4(), role=role, name=name, subject=subject)


@pytest.mark.parametrize("receipt", RECEIPTS)
def test_a_colon_in_a_name_or_key_cannot_collide(receipt: Callable[[str, str], UUID]) -> None:
    colon, plain = receipt_scope(principal("a:b")), receipt_scope(principal("a"))
    assert receipt(colon, "c") != receipt(plain, "b:c")


def test_a_scope_without_colon_or_percent_is_unchanged() -> None:
    """Receipts stored before the encoding keep answering their retries."""
    shop = str(uuid4())
    assert receipt_scope(principal("till-1", shop, Role.PAYEE)) == f"payee:{shop}"
    assert receipt_scope(principal("missions")) == "service:missions"


names = st.text(alphabet=st.sampled_from("ab:%3A"), min_size=1, max_size=6)
keys = st.text(alphabet=st.sampled_from("bc:%"), min_size=1, max_size=6)


@given(names, keys, names, keys)
def test_receipt_strings_are_injective(name1: str, key1: str, name2: str, key2: str) -> None:
    one = f"receipt:{receipt_scope(principal(name1))}:{key1}"
    two = f"receipt:{receipt_scope(principal(name2))}:{key2}"
    assert (one == two) == ((name1, key1) == (name2, key2))
