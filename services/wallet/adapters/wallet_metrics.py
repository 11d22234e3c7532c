"""The wallet's own Prometheus metrics, on the service's registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgo_runtime.metrics import Metrics

from ..application.commands import Command, Outcome


class WalletMetrics:
    def __init__(self, metrics: Metrics, ledger: Any = None) -> None:
        #: The ledger whose writer's counts (lost saves, turns) follow each batch.
        self.ledger = ledger
        self._counted = (0, 0, 0)
        self.lost_saves = metrics.counter(
            "wallet_writer_lost_saves_total",
            "Batches whose save another writer of the store won (decided again from it).",
        )
        self.turns = metrics.counter(
            "wallet_writer_turns_total",
            "Batches decided in a turn taken with the store's other writers, by whether "
            "another writer had stored something since this one's previous turn.",
            ["others_wrote"],
        )
        self.commands = metrics.counter(
            "wallet_commands_total",
            "Commands decided, by command, HTTP-like status and reason code.",
            ["command", "status", "code"],
        )
        self.batch_size = metrics.histogram(
            "wallet_batch_commands",
            "Commands decided per transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.batch_seconds = metrics.histogram(
            "wallet_batch_duration_seconds",
            "Time to decide and store one batch.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        # Readings: absent, not 0, from a process that does not measure them (an HTTP
        # process, with WALLET_BACKGROUND_PROCESS), or until the directory has caught up.
        self.supply_minted = metrics.reading("wallet_supply_minted_coins", "Coins minted.")
        self.supply_in_accounts = metrics.reading(
            "wallet_supply_in_accounts_coins", "Sum of every account's available and held coins."
        )
        self.supply_conserved = metrics.reading(
            "wallet_supply_conserved", "1 when the sum over all accounts equals the minted supply."
        )
        self.conservation_gap = metrics.reading(
            "wallet_conservation_gap_coins",
            "Coins minted minus the sum of every account's available and held coins: always 0.",
        )
        self.budget_available = metrics.gauge(
            "wallet_budget_available_coins",
            "Available coins of each programme budget.",
            ["programme"],
        )
        self.holds_expired = metrics.counter(
            "wallet_holds_expired_total", "Holds expired by the sweeper."
        )
        self.authorisation_misses = metrics.counter(
            "wallet_authorisation_misses_total",
            "Look-ups of a code, card, pass or PIN that missed (a guess, or a typo), by kind.",
            ["kind"],
        )

    def observe_batch(
        self, commands: Sequence[Command], outcomes: Sequence[Outcome], seconds: float
    ) -> None:
        self.batch_size.observe(len(commands))
        self.batch_seconds.observe(seconds)
        if self.ledger is not None:
            self._observe_writer()
        for command, outcome in zip(commands, outcomes, strict=True):
            code = str(outcome.body.get("code", "ok")) if not outcome.ok else "ok"
            self.commands.labels(command.name, str(outcome.status), code).inc()
            if code in _MISSES and not outcome.replayed:
                self.authorisation_misses.labels(_MISSES[code]).inc()

    def _observe_writer(self) -> None:
        ledger = self.ledger
        now = (ledger.lost_saves, ledger.turns.taken, ledger.turns.shared)
        lost, taken, shared = (a - b for a, b in zip(now, self._counted, strict=True))
        self._counted = now
        if lost:
            self.lost_saves.inc(lost)
        if shared:
            self.turns.labels("true").inc(shared)
        if taken - shared:
            self.turns.labels("false").inc(taken - shared)


#: Refusals that mean a guessed or mistyped secret.
_MISSES = {
    "payment_code_invalid": "payment_code",
    "card_invalid": "card",
    "pin_incorrect": "pin",
    "transit_pass_invalid": "transit_pass",
}
