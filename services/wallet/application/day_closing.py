"""Closing the ledger's Bangkok days: when the business clock has passed midnight, the day
is sealed as a digest over an explicit range of the stored log.

The range of a day runs from the previous day's ``to_position`` + 1 to the last notification
id stored when the day is closed. The event store commits notification ids in order (its
insert locks the table), so no transaction in flight can later appear inside a closed range:
what a day covers is fixed the moment it is closed. Records keep their positions when they
are published late or again, so a subscriber assigns them to the same day. The digests are
saved on the chain aggregate in the wallet's own store; the relay publishes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from kgo_contracts.daily_digest import LedgerRecord, day_body, digest_sha256
from kgo_contracts.wallet import WalletEvent
from kgo_runtime.clock import Clock, bangkok_day
from kgo_runtime.relay import ToContract

from ..domain.digest_chain import DIGEST_CHAIN_ID, DigestChain

log = logging.getLogger(__name__)

PAGE = 1000


class Signer(Protocol):
    @property
    def key_id(self) -> str: ...

    def sign(self, body: dict[str, Any]) -> str: ...


class DayClosing:
    """Closes every day that is over by the clock (call :meth:`close_due` in a thread)."""

    def __init__(
        self, store: Application[UUID], to_contract: ToContract, signer: Signer, clock: Clock
    ) -> None:
        self._store = store
        self._to_contract = to_contract
        self._signer = signer
        self._clock = clock
        self._chain: DigestChain | None = None

    def chain(self) -> DigestChain | None:
        """The chain as stored (read again only after another process closed a day)."""
        if self._chain is None:
            try:
                found: Any = self._store.repository.get(DIGEST_CHAIN_ID)
            except AggregateNotFoundError:
                return None
            self._chain = found if isinstance(found, DigestChain) else None
        return self._chain

    def close_due(self) -> list[dict[str, Any]]:
        """Close the days before today's business day; returns their digests' bodies."""
        closed: list[dict[str, Any]] = []
        for _attempt in range(10_000):
            chain = self.chain()
            day = chain.next_day if chain is not None else self._first_day()
            if day is None or day >= bangkok_day(self._clock.now()):
                return closed
            chain = chain or DigestChain.start()
            body = self._body(chain, day)
            chain.close_day(body, digest_sha256(body), self._signer.sign(body))
            try:
                self._store.save(chain)
            except IntegrityError:  # another wallet process closed it first: read it again
                self._chain = None
                continue
            except BaseException:  # nothing stored: forget the unsaved state
                self._chain = None
                raise
            self._chain = chain
            log.info("day closed: %s, %s records", day, body["record_count"])
            closed.append(body)
        return closed

    def _first_day(self) -> str | None:
        """The business day of the first ledger record: the chain starts there."""
        for _position, contract in self._published(1, None):
            return bangkok_day(contract.business_time())
        return None

    def _body(self, chain: DigestChain, day: str) -> dict[str, Any]:
        previous = chain.last
        start = 1 if previous is None else int(previous["to_position"]) + 1
        end = max(start - 1, self._store.recorder.max_notification_id() or 0)
        records = [
            LedgerRecord(position, c.ce_type(), c.key(), c.model_dump(mode="json"))
            for position, c in self._published(start, end)
        ]
        return day_body(
            day,
            previous,
            records,
            to_position=end,
            key=self._signer.key_id,
            closed_at=self._clock.now().isoformat(timespec="seconds"),
        )

    def _published(self, start: int, end: int | None) -> Iterator[tuple[int, WalletEvent]]:
        """(position, contract) of the ledger records stored from ``start`` to ``end``."""
        recorder, mapper = self._store.recorder, self._store.mapper
        while end is None or start <= end:
            page = recorder.select_notifications(start, PAGE, stop=end)
            for notification in page:
                contract = self._to_contract(mapper.to_domain_event(notification))
                if isinstance(contract, WalletEvent):
                    yield notification.id, contract
            if len(page) < PAGE:
                return
            start = page[-1].id + 1
