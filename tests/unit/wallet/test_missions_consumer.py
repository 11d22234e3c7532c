"""The wallet's missions consumer, in memory: contract examples go through the runtime's own
RecordProcessor and the same handler the real consumer uses, with an in-memory inbox,
pool and producer standing in for Postgres and Kafka, and the real command bus on an
in-memory ledger.

Story: the resident finishes the sign-up mission; the record comes twice, then again under a
new ce_id, then again after a "crash" that lost the consumer's inbox. One grant. The
activities budget runs dry and the refusal is recorded; a completion naming a budget nobody
opened, a record that is not JSON and one whose reward is text go to the dead-letter topic,
and the completions after them are still granted.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from kgo_contracts.examples import examples_of
from kgo_contracts.missions import MissionCompleted
from kgo_runtime.deadletter import PermanentError
from kgo_runtime.envelope import Envelope, OutgoingRecord, encode, header_map
from kgo_runtime.inbox import Seen, judge
from kgo_runtime.metrics import Metrics
from kgo_runtime.processing import Outcome, RecordProcessor
from services.wallet.application.bus import CommandBus
from services.wallet.domain.ids import budget_id
from services.wallet.entrypoints.missions import CALLER, MissionGrants

from .conftest import Treasury
from .test_circulation import published

pytestmark = pytest.mark.unit

TOPIC = "kgo.missions.events"


# --- in-memory stand-ins for the consumer's Postgres and Kafka --------------------------------


class MemoryInbox:
    """The inbox's contract (positions and applied ce_ids), in dicts."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}
        self.ids: dict[str, str | None] = {}

    async def advance(self, _conn: Any, topic: str, partition: int, offset: int) -> bool:
        if self.positions.get((topic, partition), 0) > offset:
            return False
        self.positions[(topic, partition)] = offset + 1
        return True

    async def remember(self, _conn: Any, ce_id: str, digest: str | None = None) -> Seen:
        if ce_id in self.ids:
            return judge(self.ids[ce_id], digest)
        self.ids[ce_id] = digest
        return Seen.NEW

    async def next_offset(self, _conn: Any, topic: str, partition: int) -> int:
        return self.positions.get((topic, partition), 0)


class MemoryPool:
    """A pool whose transactions roll the inbox back when the block raises."""

    def __init__(self, inbox: MemoryInbox) -> None:
        self.inbox = inbox

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[MemoryPool]:
        yield self

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        saved = copy.deepcopy(self.inbox.__dict__)
        try:
            yield
        except BaseException:
            self.inbox.__dict__.update(saved)
            raise


class MemoryProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, str]]] = []

    async def send(self, topic: str, value: bytes | None, *, key: Any, headers: Any) -> Any:
        self.sent.append((topic, value, header_map(headers)))

        async def delivered() -> None:
            return None

        return delivered()


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class Harness:
    """Delivers records to the wallet's handler the way the consumer does record by record
    (the batched consumer's per-record path: the same handler, a batch of one)."""

    def __init__(self, bus: CommandBus) -> None:
        self.bus = bus
        self.producer = MemoryProducer()
        self.offsets = itertools.count()
        self.restart(lose_inbox=True)

    def restart(self, *, lose_inbox: bool = False) -> None:
        """A new process: a new handler; ``lose_inbox`` as if the consumer's last
        transactions never committed (the grants they asked for did)."""
        if lose_inbox:
            self.inbox = MemoryInbox()
        self.processor = RecordProcessor.batched(
            "wallet-missions",
            MissionGrants(self.bus).on_batch,
            inbox=self.inbox,  # type: ignore[arg-type]
            pool=MemoryPool(self.inbox),  # type: ignore[arg-type]
            producer=self.producer,  # type: ignore[arg-type]
            metrics=Metrics("test"),
            permanent_errors=(PermanentError, ValidationError),
        )

    async def deliver(self, record: OutgoingRecord, offset: int | None = None) -> Outcome:
        at = next(self.offsets) if offset is None else offset
        kafka = Record(TOPIC, 0, at, record.key, record.value, record.headers)
        return await self.processor.process(kafka)  # type: ignore[arg-type]

    def dead_letters(self) -> list[dict[str, str]]:
        return [headers for topic, _, headers in self.producer.sent if topic == f"{TOPIC}.dlq"]


def completion(wallet: UUID, *, programme: str = "welcome", reward: int = 100) -> MissionCompleted:
    """The contract's own example, for this test's resident."""
    example = examples_of(MissionCompleted)[0]
    assert isinstance(example, MissionCompleted)
    return example.model_copy(
        update={
            "completion_id": uuid4(),
            "wallet_id": wallet,
            "programme": programme,
            "reward": reward,
        }
    )


def record(event: MissionCompleted, ce_id: str | None = None) -> OutgoingRecord:
    return encode(event, ce_id=ce_id or str(uuid4()), source="/kgo/missions")


@pytest.fixture
async def bus(treasury: Treasury) -> AsyncIterator[CommandBus]:
    bus = CommandBus(treasury.ledger)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
def harness(bus: CommandBus) -> Harness:
    return Harness(bus)


@pytest.fixture
def resident(treasury: Treasury) -> Iterator[UUID]:
    treasury.budget("welcome", 1_000)
    treasury.budget("municipal-activities", 150)
    yield treasury.resident(1)


def grants_for(treasury: Treasury, event: MissionCompleted) -> list[Any]:
    reference = str(event.completion_id)
    return [
        e
        for e in published(treasury)
        if type(e).__name__ in {"CoinsGranted", "GrantRefused"} and e.reference == reference
    ]


async def test_a_completion_becomes_one_grant_referenced_by_its_completion_id(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    done = completion(resident)
    assert await harness.deliver(record(done)) is Outcome.PROCESSED
    [granted] = grants_for(treasury, done)
    assert (type(granted).__name__, granted.amount) == ("CoinsGranted", 100)
    assert granted.programme == "welcome"
    assert granted.reason == f"mission {done.mission_id}"
    assert treasury.balance(resident) == (100, 0)


async def test_the_same_completion_delivered_again_and_again_is_granted_once(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    done = completion(resident)
    first = record(done)
    assert await harness.deliver(first) is Outcome.PROCESSED
    # the same record, redelivered: the inbox drops it
    assert await harness.deliver(first) is Outcome.DUPLICATE
    # republished under a new ce_id: the inbox lets it through, the idempotency key holds
    assert await harness.deliver(record(done)) is Outcome.PROCESSED
    # a restart that lost the consumer's transaction but not the grant: the key holds again
    harness.restart(lose_inbox=True)
    assert await harness.deliver(first, offset=0) is Outcome.PROCESSED
    assert len(grants_for(treasury, done)) == 1
    assert treasury.balance(resident) == (100, 0)


async def test_a_ce_id_reused_for_another_completion_is_dead_lettered_not_dropped(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    done, other = completion(resident), completion(resident, reward=30)
    first = record(done)
    ce_id = header_map(first.headers)["ce_id"]
    assert await harness.deliver(first) is Outcome.PROCESSED
    assert await harness.deliver(record(other, ce_id=ce_id)) is Outcome.DEAD_LETTERED
    [letter] = harness.dead_letters()
    assert letter["kgo_dlq_reason_code"] == "ce_id_reused"
    assert grants_for(treasury, other) == []
    # the true re-delivery after it is still a silent duplicate
    assert await harness.deliver(first) is Outcome.DUPLICATE
    assert treasury.balance(resident) == (100, 0)


async def test_the_grant_is_keyed_by_the_completion_id_in_the_missions_scope(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    """The key is what exactly-once rests on: the same key in that scope is the same grant."""
    from services.wallet.application import commands as c

    done = completion(resident)
    await harness.deliver(record(done))
    again = treasury.run(
        c.Grant, caller=CALLER, key=str(done.completion_id), programme="welcome",
        wallet_id=resident, amount=100, reason=f"mission {done.mission_id}",
        reference=str(done.completion_id),
    )  # fmt: skip
    assert again.replayed


async def test_an_empty_budget_records_the_refusal_and_moves_on(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    big = completion(resident, programme="municipal-activities", reward=100)
    too_big = completion(resident, programme="municipal-activities", reward=100)
    assert await harness.deliver(record(big)) is Outcome.PROCESSED
    assert await harness.deliver(record(too_big)) is Outcome.PROCESSED
    [refused] = grants_for(treasury, too_big)
    assert (type(refused).__name__, refused.reason_code) == ("GrantRefused", "budget_exhausted")
    assert refused.account_id == budget_id("municipal-activities")
    assert harness.dead_letters() == []
    # delivered again, the refusal is not recorded twice
    harness.restart(lose_inbox=True)
    assert await harness.deliver(record(too_big)) is Outcome.PROCESSED
    assert len(grants_for(treasury, too_big)) == 1


async def test_what_cannot_be_granted_is_dead_lettered_and_later_completions_still_land(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    unknown_budget = record(completion(resident, programme="no-such-programme"))
    unknown_wallet = record(completion(uuid4()))
    not_json = replace(record(completion(resident)), value=b"{not json")
    good = record(completion(resident))
    text_reward = replace(good, value=good.value.replace(b'"reward":100', b'"reward":"100"'))
    later = completion(resident, reward=7)
    for bad in (unknown_budget, unknown_wallet, not_json, text_reward):
        assert await harness.deliver(bad) is Outcome.DEAD_LETTERED
    assert await harness.deliver(record(later)) is Outcome.PROCESSED
    reasons = [(h["kgo_dlq_reason_code"], h["kgo_dlq_reason"]) for h in harness.dead_letters()]
    assert [code for code, _ in reasons] == [
        "rejected",
        "rejected",
        "invalid_json",
        "contract_violation",
    ]
    assert "no-such-programme" in reasons[0][1] and "account_not_found" in reasons[0][1]
    assert "account_not_found" in reasons[1][1]
    assert treasury.balance(resident) == (7, 0)


async def test_unknown_fields_are_ignored_and_a_zero_reward_grants_nothing(
    treasury: Treasury, harness: Harness, resident: UUID
) -> None:
    done = completion(resident, reward=40)
    extended = record(done)
    extended = replace(extended, value=extended.value[:-1] + b',"reward_cut_from":50}')
    assert await harness.deliver(extended) is Outcome.PROCESSED
    assert treasury.balance(resident) == (40, 0)
    # the contract asks for a positive reward today; a cut reward of 0 would grant nothing
    zero = MissionCompleted.model_construct(**(completion(resident).__dict__ | {"reward": 0}))
    envelope = Envelope("x", "/kgo/missions", zero.ce_type(), zero.occurred_at, "s", zero)
    await MissionGrants(harness.bus).on_batch(None, [envelope])  # type: ignore[arg-type]
    assert treasury.balance(resident) == (40, 0)


async def test_a_wallet_store_that_is_down_is_retried_with_nothing_recorded(
    treasury: Treasury, harness: Harness, resident: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = record(completion(resident))

    def store_down(_commands: Any) -> Any:
        raise ConnectionError("event store unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(treasury.ledger, "execute", store_down)
        assert await harness.deliver(done, offset=0) is Outcome.RETRY
    assert harness.inbox.ids == {}
    assert await harness.deliver(done, offset=0) is Outcome.PROCESSED
    assert treasury.balance(resident) == (100, 0)


def envelope_of(event: MissionCompleted) -> Envelope:
    return Envelope(str(uuid4()), "/kgo/missions", event.ce_type(), event.occurred_at, "s", event)


async def test_a_batch_of_completions_is_granted_in_one_ledger_transaction(
    treasury: Treasury, bus: CommandBus, resident: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batched consumer's handler (what the service runs): the poll's completions are
    submitted together and the bus decides them in one ledger batch."""
    batches: list[int] = []
    execute = treasury.ledger.execute

    def counted(commands: Any, *args: Any, **kwargs: Any) -> Any:
        batches.append(len(commands))
        return execute(commands, *args, **kwargs)

    monkeypatch.setattr(treasury.ledger, "execute", counted)
    done = [completion(resident, reward=r) for r in (1, 2, 3, 4, 5)]
    await MissionGrants(bus).on_batch(None, [envelope_of(e) for e in done])  # type: ignore[arg-type]
    assert batches == [5]
    assert treasury.balance(resident) == (15, 0)
    # Delivered again (the consumer's transaction lost): every grant replays, nothing moves.
    await MissionGrants(bus).on_batch(None, [envelope_of(e) for e in done])  # type: ignore[arg-type]
    assert treasury.balance(resident) == (15, 0)


async def test_a_batch_with_a_grant_refused_for_good_raises_for_the_per_record_fallback(
    treasury: Treasury, bus: CommandBus, resident: UUID
) -> None:
    """The runtime then applies the batch again record by record: the good grants replay
    their first answer and only the refused record is dead-lettered (the broker test in
    tests/integration/wallet/test_missions_grants.py)."""
    good, bad = completion(resident, reward=9), completion(resident, programme="nobody")
    with pytest.raises(PermanentError, match="account_not_found"):
        await MissionGrants(bus).on_batch(None, [envelope_of(good), envelope_of(bad)])  # type: ignore[arg-type]
    assert treasury.balance(resident) == (9, 0)  # decided once, kept; replayed on the retry
