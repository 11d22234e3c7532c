"""The orjson transcoder writes what eventsourcing's stock JSON transcoder writes, and each
reads the other's output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

from kgo_runtime.transcoder import OrjsonTranscoder

pytestmark = pytest.mark.unit


def transcoders() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    app = Application()
    stock, fast = JSONTranscoder(), OrjsonTranscoder()
    app.register_transcodings(stock)
    app.register_transcodings(fast)
    return stock, fast


STATE = {
    "originator_id": uuid4(),
    "amount": 50,
    "occurred_at": datetime(2022, 6, 9, 13, 0, tzinfo=timezone(timedelta(hours=7))),
    "holds": {"h": {"amount": 3, "expires_at": datetime(2022, 6, 9, 13, 5, tzinfo=UTC)}},
    "memo": None,
    "ratio": Decimal("1.5"),
    "ids": [uuid4(), uuid4()],
    "thai": "ขอนแก่น",
}


def test_same_bytes_meaning_both_ways():
    stock, fast = transcoders()
    assert fast.decode(stock.encode(STATE)) == STATE
    assert stock.decode(fast.encode(STATE)) == STATE
    assert fast.decode(fast.encode(STATE)) == STATE


def test_unknown_types_are_refused_like_the_stock_transcoder():
    _, fast = transcoders()
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"x": object()})
