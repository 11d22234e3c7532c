"""Rebuild every balance from the published events alone and compare with the ledger.

The fold is the reference fold of ``schemas/kgo_contracts/fold.py``; each record also says
which version of its account it is, so each account is compared with the ledger's state at
exactly that version, and events stored but not yet published are reported apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from kgo_contracts.fold import FoldError, Ledger

from ..domain.account import Account

#: Loads an account at a version (None: the latest), or None if it does not exist.
LoadAccount = Callable[[UUID, int | None], Account | None]


@dataclass(frozen=True)
class Difference:
    account_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.account_id}: {self.problem}"


@dataclass
class Rebuild:
    """The fold of a topic, record by record, remembering each account's last version."""

    ledger: Ledger = field(default_factory=Ledger)
    versions: dict[str, int] = field(default_factory=dict)
    problems: list[Difference] = field(default_factory=list)
    records: int = 0

    def apply(self, ce_id: str, ce_type: str, payload: Mapping[str, Any], where: str) -> None:
        self.records += 1
        account = str(payload.get("account_id"))
        version = int(payload.get("account_version", 0))
        last = self.versions.get(account, 0)
        if ce_id in self.ledger.seen_ids:
            return
        if version != last + 1:
            self.problems.append(Difference(account, f"{where}: version {version} follows {last}"))
        self.versions[account] = max(last, version)
        try:
            self.ledger.apply(ce_id, ce_type, payload)
        except FoldError as error:
            self.problems.append(Difference(account, f"{where}: {error}"))

    def compare(self, account_ids: Iterable[UUID], load: LoadAccount) -> list[Difference]:
        """Differences between the fold and the ledger; empty when they agree."""
        differences = list(self.problems)
        in_store = set()
        for account_id in account_ids:
            key = str(account_id)
            in_store.add(key)
            latest = load(account_id, None)
            if latest is None:
                differences.append(Difference(key, "listed but not in the event store"))
                continue
            seen = self.versions.get(key)
            if seen is None:
                differences.append(Difference(key, "in the ledger but never published"))
                continue
            if latest.version > seen:
                differences.append(
                    Difference(key, f"{latest.version - seen} stored events not yet published")
                )
            at_seen = latest if latest.version == seen else load(account_id, seen)
            folded = self.ledger.balances.get(key)
            kafka = (folded.available, folded.held) if folded else (0, 0)
            store = (at_seen.available, at_seen.held) if at_seen else None
            if kafka != store:
                differences.append(
                    Difference(
                        key,
                        f"fold says available/held {kafka}, ledger at version {seen} says {store}",
                    )
                )
        for key in sorted(set(self.versions) - in_store):
            differences.append(Difference(key, "published but unknown to the ledger"))
        if self.ledger.circulating() != self.ledger.minted:
            differences.append(
                Difference(
                    "supply",
                    f"sum of balances {self.ledger.circulating()} != minted {self.ledger.minted}",
                )
            )
        return differences
