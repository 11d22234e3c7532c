"""The chain of daily digests: one aggregate whose events are the days the wallet closed.

Its id is fixed, so two wallet processes closing the same day race on the same version and
only one of them saves; the other reloads and finds the day closed. A day is closed only
after the day before it, and its range starts where the previous day's ended.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid5

from eventsourcing.domain import Aggregate

from .ids import KGO_NAMESPACE

DIGEST_CHAIN_ID = uuid5(KGO_NAMESPACE, "digest-chain:ledger")


class DigestOutOfOrder(ValueError):
    """A day closed out of turn, or a range that does not follow the previous one."""


class DigestChain(Aggregate):
    TOPIC = "kgo.wallet.DigestChain"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.DigestChain.Created"

    class Started(Aggregate.Created):
        TOPIC = "kgo.wallet.DigestChain.Started"

    class DayClosed(Aggregate.Event):
        """The signed digest of one Bangkok day (``body`` is exactly what was signed)."""

        TOPIC = "kgo.wallet.DigestChain.DayClosed"
        body: dict[str, Any]
        digest_sha256: str
        signature: str

        def apply(self, aggregate: Any) -> None:
            aggregate.last = self.body

    def __init__(self) -> None:
        #: The body of the last day closed (None before the first).
        self.last: dict[str, Any] | None = None

    @classmethod
    def start(cls) -> DigestChain:
        return cls._create(cls.Started, id=DIGEST_CHAIN_ID)

    @property
    def next_day(self) -> str | None:
        """The day to close next (None before the first day is known)."""
        if self.last is None:
            return None
        return (date.fromisoformat(self.last["day"]) + timedelta(days=1)).isoformat()

    def close_day(self, body: dict[str, Any], digest_sha256: str, signature: str) -> None:
        expected_from = 1 if self.last is None else int(self.last["to_position"]) + 1
        if self.last is not None and body["day"] != self.next_day:
            raise DigestOutOfOrder(f"{body['day']} is not the day after {self.last['day']}")
        if body["from_position"] != expected_from:
            raise DigestOutOfOrder(f"{body['day']} starts at {body['from_position']}")
        self.trigger_event(
            self.DayClosed, body=body, digest_sha256=digest_sha256, signature=signature
        )
