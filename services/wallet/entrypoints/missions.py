"""The wallet's reaction to ``kgo.missions.events``: each ``MissionCompleted`` with a reward
becomes exactly one grant from its programme's budget (``CoinsGranted``, referenced by the
completion id), or a recorded ``GrantRefused`` when the budget is empty.

Why exactly once, and what it rests on. The runtime's IdempotentConsumer stores the record's
``ce_id`` and the partition's position in its own asyncpg transaction. The grant does not go
through that transaction: it is a command to the wallet's command bus, stored by the event
store on its own connection. The two commits are separate, so the inbox alone cannot make a
grant exactly-once — if the process dies after the grant committed and before the consumer's
transaction did, the record is delivered again. What makes the second delivery harmless is
the grant's idempotency key: the completion id, in one fixed caller scope
(:data:`CALLER`). The ledger finds the receipt of the first decision and replays its answer;
nothing moves twice. The same holds for a completion the missions service republishes under
a new ``ce_id``, and for a refusal (the ``GrantRefused`` is recorded once).

The service runs the consumer batched (:meth:`MissionGrants.on_batch`): a poll's
completions of one partition are submitted together, so the command bus decides them in
one ledger transaction, and the consumer stores their ``ce_id``s and position in one inbox
transaction. A batch with a grant refused for good is applied again one record at a time
(each grant then replays its first answer), so only that record is dead-lettered.

What is not granted never stalls the consumer: a record that does not decode or breaks the
contract is dead-lettered by the runtime; a grant the wallet refuses for good (no such
budget or wallet, the completion id reused for another grant) is dead-lettered here with the
wallet's reason. Only an undecided command (the store is down) is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from kgo_contracts.missions import MissionCompleted
from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.consumer import PermanentError
from kgo_runtime.envelope import Envelope
from kgo_runtime.logging import get_logger

from ..application.bus import CommandBus
from ..application.commands import Grant, Outcome

log = get_logger(__name__)

#: The idempotency scope of every mission grant: the missions service's, as if it had
#: called POST /v1/grants itself with the completion id as its key.
CALLER = "service:missions"


class MissionGrants:
    """The consumer's handlers: one grant per completion, through the command bus."""

    def __init__(self, bus: CommandBus, clock: Clock | None = None) -> None:
        self._bus = bus
        self._clock = clock or SystemClock()

    async def on_batch(self, _conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        """The consumer's handler (batched; its per-record fallback hands it one record):
        every completion's grant submitted at once."""
        grants = [g for e in envelopes if (g := self._grant(e)) is not None]
        outcomes = await asyncio.gather(*(self._bus.submit(g) for g in grants))
        for grant, outcome in zip(grants, outcomes, strict=True):
            self._judge(grant, outcome)

    def _grant(self, envelope: Envelope) -> Grant | None:
        """The grant a missions record asks for (None: another event, or no reward)."""
        completed = envelope.event
        if not isinstance(completed, MissionCompleted) or completed.reward <= 0:
            return None  # other missions events, and a reward cut to zero: nothing to grant
        reference = str(completed.completion_id)
        return Grant(
            idempotency_key=reference,
            caller=CALLER,
            at=self._clock.now(),
            programme=completed.programme,
            wallet_id=completed.wallet_id,
            amount=completed.reward,
            reason=f"mission {completed.mission_id}",
            reference=reference,
        )

    @staticmethod
    def _judge(grant: Grant, outcome: Outcome) -> None:
        code = outcome.body.get("code")
        # An erased resident's wallet takes no grant: expected, not an operator's problem.
        if outcome.ok or code in ("budget_exhausted", "wallet_erased"):
            log.info("mission grant", completion=grant.reference, status=outcome.status,
                     refused=code, replayed=outcome.replayed)  # fmt: skip
            return
        raise PermanentError(f"{code}: {outcome.body.get('reason', '')}", "rejected")
