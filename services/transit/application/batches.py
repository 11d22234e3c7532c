"""Offline batches, decided many taps per transaction.

A validator that was offline uploads its taps with their original times. Each pass's taps
must be judged in tap-time order (its cap and double-tap guard judge them as they happened),
so the batch goes in *rounds*: round k holds the k-th tap of every pass, no two of the same
pass. A round is cut into chunks; a chunk is judged in one transaction, its coins are asked of
the wallet concurrently, and the answers are recorded in one transaction. Whatever does not
fit that path (a conflict: the batch was sent before, or a pass was tapped online meanwhile;
an offline rider short of coins; a pass whose wallet must be looked up) goes through the
one-tap path, which reads everything again. A tap the wallet could not be asked about now
comes back ``pending``: send the batch (or that tap) again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from ..domain.errors import TransitError, WalletDown
from ..domain.ids import pass_key
from ..domain.taps import Tap
from ..domain.trip import Trip
from .fares import (
    REFUSAL_REASONS,
    Contention,
    FareCollector,
    Judged,
    NeedsWallet,
    TapRequest,
    is_short,
)
from .ports import Moved, WalletAnswer
from .views import TripView, trip_view

#: Taps judged (and answers recorded) per transaction.
CHUNK = 50
#: Chunks of one round in flight at once (their passes differ, so they never conflict):
#: one chunk's wallet calls overlap another's transactions.
CHUNKS_AT_ONCE = 4
#: Attempts to judge (or record) a chunk in one transaction before its taps go one by one:
#: online, the chunks in flight at once may share a pass, and the one saved second
#: conflicts; judged again it sees the other's ride.
ATTEMPTS = 3


def rounds(requests: Sequence[TapRequest]) -> list[list[int]]:
    """Indexes of ``requests``: round k is the k-th tap (by tap time) of every pass."""
    by_pass: dict[str, list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        by_pass[request.tap.pass_digest].append(index)
    result: list[list[int]] = []
    for indexes in by_pass.values():
        indexes.sort(key=lambda i: requests[i].tap.tapped_at)
        for k, index in enumerate(indexes):
            if k == len(result):
                result.append([])
            result[k].append(index)
    return result


Answer = TripView | Exception | None


async def upload(collector: FareCollector, requests: Sequence[TapRequest]) -> list[TripView]:
    answers: list[Answer] = [None] * len(requests)
    gate = asyncio.Semaphore(CHUNKS_AT_ONCE)

    async def chunk(indexes: list[int]) -> None:
        async with gate:
            await _chunk(collector, requests, indexes, answers)

    for round_ in rounds(requests):
        chunks = [round_[start : start + CHUNK] for start in range(0, len(round_), CHUNK)]
        await asyncio.gather(*(chunk(indexes) for indexes in chunks))
    return [
        answer if isinstance(answer, TripView) else refused(requests[i].tap, answer)
        for i, answer in enumerate(answers)
    ]


def refused(tap: Tap, error: Exception | None) -> TripView:
    """What a batch answers for a tap it could not decide now (pending: send it again) or
    at all (its tap id was used for another tap)."""
    code = getattr(error, "code", None)
    if code is None or code in ("wallet_unavailable", "contention"):
        return TripView.pending_of(tap)
    return TripView(tap.trip_id, tap.tap_id, "refused", tap.tapped_at, reason=code)


async def _chunk(
    collector: FareCollector,
    requests: Sequence[TapRequest],
    indexes: list[int],
    answers: list[Answer],
) -> None:
    taps = [requests[i].tap for i in indexes]
    judged = None
    for attempt in range(ATTEMPTS):
        judged = await asyncio.to_thread(_judge_all, collector, taps, attempt > 0)
        if judged is not None:
            break
    if judged is None:
        await _one_by_one(collector, requests, indexes, answers)
        return
    alone: list[int] = []
    waiting: list[tuple[int, Judged]] = []
    for index, decision in zip(indexes, judged, strict=True):
        if decision is None or isinstance(decision, NeedsWallet):
            alone.append(index)
        elif decision.trip.awaiting_wallet:
            waiting.append((index, decision))
        else:
            answers[index] = trip_view(decision.trip, replayed=decision.replayed)
    spent = await _spend_all(collector, requests, waiting)
    plain: list[tuple[int, Judged, WalletAnswer]] = []
    for (index, decision), answer in zip(waiting, spent, strict=True):
        if answer is None:
            answers[index] = trip_view(decision.trip)  # pending
        elif is_short(answer) or not _recordable(answer) or decision.account is None:
            answers[index] = await _finish(collector, decision, answer)
        else:
            plain.append((index, decision, answer))
    recorded = None
    for attempt in range(ATTEMPTS):
        recorded = await asyncio.to_thread(_record_all, collector, plain, attempt > 0)
        if recorded is not None:
            break
    if recorded is not None:
        for (index, decision, _), trip in zip(plain, recorded, strict=True):
            answers[index] = trip_view(trip, replayed=decision.replayed)
    else:
        for index, decision, answer in plain:
            answers[index] = await _finish(collector, _reloaded(decision), answer)
    await _one_by_one(collector, requests, alone, answers)


def _judge_all(
    collector: FareCollector, taps: list[Tap], careful: bool
) -> list[Judged | NeedsWallet | None] | None:
    """Every tap judged, all saved in one transaction; None if anything conflicted (another
    chunk in flight moved one of its passes on). A careful attempt reads each trip first (a
    tap decided before is found, not decided again) and leaves to the one-tap path (a None
    in its place) a tap it cannot judge here."""
    decisions: list[Judged | NeedsWallet | None] = []
    changed: list[Aggregate] = []
    ids = [pass_key(tap.pass_digest) for tap in taps]
    read = collector.store.find_many(ids + [tap.trip_id for tap in taps] if careful else ids)
    for tap in taps:
        try:
            decision, todo = collector._decide(tap, None, careful, read)
        except TransitError:
            if not careful:
                raise
            decision, todo = None, []  # e.g. a tap id used for another tap: its own answer
        decisions.append(decision)
        changed.extend(todo)
    try:
        if changed:
            collector.store.save(*changed)
    except IntegrityError:
        return None
    return decisions


async def _spend_all(
    collector: FareCollector,
    requests: Sequence[TapRequest],
    waiting: list[tuple[int, Judged]],
) -> list[WalletAnswer | None]:
    """The coins of every waiting trip, asked of the wallet in one call (None: not answered,
    the trip stays pending)."""
    fares = [collector.fare_ask(d.trip, requests[i].pass_token) for i, d in waiting]
    return await collector.wallet.spend_fares(operator_id=collector.operator_id, fares=fares)


def _recordable(answer: WalletAnswer) -> bool:
    return isinstance(answer, Moved) or answer.code in REFUSAL_REASONS


def _record_all(
    collector: FareCollector, items: list[tuple[int, Judged, WalletAnswer]], careful: bool
) -> list[Trip] | None:
    """Every answer recorded in one transaction: the trips as recorded; None if anything
    conflicted. The first attempt records on the trips and accounts as judged; a careful
    one reads them again."""
    trips: list[Trip] = []
    changed: list[Aggregate] = []
    for _, decision, answer in items:
        assert decision.account is not None
        known = None if careful else (decision.trip, decision.account)
        trip, todo = collector._answer(decision.trip.id, answer, known=known)
        trips.append(trip)
        changed.extend(todo)
    try:
        if changed:
            collector.store.save(*changed)
    except IntegrityError:
        return None
    return trips


def _reloaded(decision: Judged) -> Judged:
    """The decision without its in-hand aggregates (they did not save): record reads again."""
    return Judged(decision.trip, None, decision.replayed)


async def _finish(collector: FareCollector, decision: Judged, answer: WalletAnswer) -> TripView:
    try:
        return await collector._finish(decision, answer)
    except (WalletDown, Contention):
        return trip_view(decision.trip)


async def _one_by_one(
    collector: FareCollector,
    requests: Sequence[TapRequest],
    indexes: list[int],
    answers: list[Answer],
) -> None:
    """The one-tap path, each pass's taps still in order (``indexes`` are of one round)."""
    for index in indexes:
        try:
            answers[index] = await collector.tap(requests[index])
        except Exception as error:  # kept per tap: one bad tap never sinks the others
            answers[index] = error
