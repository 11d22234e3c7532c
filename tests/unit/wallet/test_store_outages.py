"""When the event store cannot be reached the writer says so at once (503, never a bug's 500),
keeps a bounded queue, answers every caller within its deadline, and never decides later a
command whose caller was already told it was not decided."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError

from services.wallet.application import commands as c
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import EXPIRED, WalletLedger
from services.wallet.application.undecided import DeadlineExceeded, Overloaded, StoreUnavailable
from services.wallet.domain.ids import receipt_id

pytestmark = pytest.mark.unit


def test_a_read_failing_inside_a_command_is_an_outage_not_a_bug(
    treasury: Any, funded: Callable[[int], UUID], outage_of: Any
) -> None:
    wallet, shop = funded(100), treasury.shop("noodles")
    outage = outage_of(treasury.ledger, wallet)
    spend = treasury.cmd(c.Spend, caller="shop", wallet_id=wallet, payee_id=shop, amount=30,
                         reference="bill-1")  # fmt: skip

    with pytest.raises(StoreUnavailable):
        treasury.ledger.execute([spend])

    outage.down = False
    outcome = treasury.ledger.execute([spend])[0]  # the same key, once the store is back
    assert (outcome.status, outcome.replayed) == (201, False)
    assert treasury.balance(wallet) == (70, 0)


def test_a_command_past_its_deadline_is_left_out_of_its_batch(
    treasury: Any, funded: Callable[[int], UUID]
) -> None:
    wallet, shop = funded(100), treasury.shop("noodles")
    late, fine = (
        treasury.cmd(c.Spend, caller="shop", wallet_id=wallet, payee_id=shop, amount=10,
                     reference=ref)
        for ref in ("late", "fine")
    )  # fmt: skip

    outcomes = treasury.ledger.execute([late, fine], [time.monotonic() - 1, None])

    assert outcomes[0] is EXPIRED and outcomes[1].status == 201
    assert treasury.balance(wallet) == (90, 0)
    again = treasury.ledger.execute([late])[0]  # no receipt was stored for it
    assert (again.status, again.replayed) == (201, False)


class Gate(WalletLedger):
    """A ledger whose writer waits at a gate before each batch (a store that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.batches: list[list[str]] = []

    def execute(
        self, commands: Sequence[c.Command], deadlines: Sequence[float | None] | None = None
    ) -> list[c.Outcome]:
        self.gate.wait(10)
        self.batches.append([cmd.idempotency_key for cmd in commands])
        return super().execute(commands, deadlines)


def genesis(key: str) -> c.Command:
    from services.wallet.entrypoints.container import business_now

    return c.MintGenesis(idempotency_key=key, caller="admin", at=business_now())


async def test_every_caller_hears_within_its_deadline_and_late_ones_are_never_decided() -> None:
    ledger = Gate()
    bus = CommandBus(ledger, deadline=0.2)
    await bus.start()
    try:
        first = asyncio.create_task(bus.submit(genesis("first")))
        await asyncio.sleep(0.05)  # the writer took "first" and hangs
        queued = asyncio.create_task(bus.submit(genesis("queued")))
        started = time.monotonic()
        for task in (first, queued):
            with pytest.raises(DeadlineExceeded):
                await task
        assert time.monotonic() - started < 1.0

        ledger.gate.set()
        assert (await bus.submit(genesis("after"))).status == 201
    finally:
        ledger.gate.set()
        await bus.stop()
    decided = [key for batch in ledger.batches for key in batch]
    assert "queued" not in decided  # dropped from the queue, never handed to the writer
    # "first" was in the writer when its caller gave up: the ledger left it out, undecided.
    with pytest.raises(AggregateNotFoundError):
        ledger.repository.get(receipt_id("admin", "first"))


async def test_a_full_queue_refuses_at_once() -> None:
    ledger = Gate()
    bus = CommandBus(ledger, max_queued=2, deadline=5)
    await bus.start()
    try:
        waiting = [asyncio.create_task(bus.submit(genesis("k0")))]
        await asyncio.sleep(0.05)  # in the writer, which hangs
        waiting += [asyncio.create_task(bus.submit(genesis(f"k{i}"))) for i in (1, 2)]
        await asyncio.sleep(0.01)  # two queued: the queue is full
        started = time.monotonic()
        with pytest.raises(Overloaded):
            await bus.submit(genesis("one-more"))
        assert time.monotonic() - started < 0.1
    finally:
        ledger.gate.set()
        await asyncio.gather(*waiting, return_exceptions=True)
        await bus.stop()
