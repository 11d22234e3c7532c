"""Helpers for the wallet's unit tests: an in-memory ledger with a small treasury."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import OperationalError

from services.wallet.application import commands as c
from services.wallet.application.ledger import WalletLedger

T0 = datetime(2022, 6, 9, 13, 0, tzinfo=timezone(timedelta(hours=7)))


class Treasury:
    """A ledger (in-memory store) with genesis done, and shortcuts to drive it."""

    def __init__(self, ledger: WalletLedger | None = None) -> None:
        self.ledger = ledger or WalletLedger()
        self.keys = itertools.count()
        self.now = T0
        assert self.run(c.MintGenesis).status == 201

    def cmd(
        self, cls: type[c.Command], caller: str = "admin", key: str | None = None, **kw: Any
    ) -> c.Command:
        return cls(idempotency_key=key or f"k{next(self.keys)}", caller=caller, at=self.now, **kw)

    def run(
        self, cls: type[c.Command], caller: str = "admin", key: str | None = None, **kw: Any
    ) -> c.Outcome:
        return self.ledger.execute([self.cmd(cls, caller, key, **kw)])[0]

    def budget(self, programme: str, amount: int) -> None:
        assert self.run(c.OpenBudget, programme=programme, label=programme).ok
        assert self.run(c.AllocateBudget, programme=programme, amount=amount).ok

    def resident(self, n: int) -> UUID:
        out = self.run(
            c.RegisterResident,
            national_id_index=f"nid{n}",
            phone_index=f"ph{n}",
            personal_data_digest=f"d{n}",
            sealed_personal_data="sealed",
            key_id="k",
        )
        assert out.status == 201, out
        return UUID(out.body["wallet_id"])

    def shop(self, ref: str) -> UUID:
        out = self.run(c.OpenPayee, kind="shop", external_ref=ref, label=ref)
        assert out.status == 201, out
        return UUID(out.body["account_id"])

    def balance(self, account_id: UUID) -> tuple[int, int]:
        account = self.ledger.account(account_id)
        assert account is not None
        return account.available, account.held


@pytest.fixture
def treasury() -> Treasury:
    return Treasury()


@pytest.fixture
def funded(treasury: Treasury) -> Callable[[int], UUID]:
    """A resident with ``amount`` coins granted from the 'welcome' budget."""
    treasury.budget("welcome", 100_000)

    def make(amount: int) -> UUID:
        wallet = treasury.resident(next(treasury.keys))
        assert treasury.run(
            c.Grant,
            programme="welcome",
            wallet_id=wallet,
            amount=amount,
            reason="test",
            reference="t",
        ).ok
        return wallet

    return make


class Outage:
    """Makes reads of one aggregate fail as a store that went away does."""

    def __init__(self, ledger: WalletLedger, aggregate_id: UUID) -> None:
        self.down = True
        self._get = ledger.repository.get
        self._id = aggregate_id
        ledger.cache.evict([aggregate_id])  # the writer must read it from the store

        def get(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
            if self.down and aggregate_id == self._id:
                raise OperationalError("server closed the connection unexpectedly")
            return self._get(aggregate_id, *args, **kwargs)

        ledger.repository.get = get  # type: ignore[method-assign]


@pytest.fixture
def outage_of() -> type[Outage]:
    """``outage_of(ledger, aggregate_id)``: reads of that aggregate fail until ``.down`` is
    set to False."""
    return Outage
