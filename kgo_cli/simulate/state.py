"""What the simulator remembers between days and between runs: the totals, each resident's
wallet, session and progress, the devices' credentials; saved to ``$KGO_HOME/simulation.json``
(secrets apart, 0600) after every simulated day, so a stopped simulation resumes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class Totals:
    """What the summary prints; everything here is decided by the plan and the platform's
    answers, so two runs of one seed on fresh data compare equal."""

    counts: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] += amount

    def refuse(self, what: str, code: str) -> None:
        self.refusals[f"{what}:{code}"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "refusals": dict(sorted(self.refusals.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        return cls(Counter(data.get("counts", {})), Counter(data.get("refusals", {})))


@dataclass
class Session:
    wallet_id: str
    access: str
    refresh: str
    refresh_expires: datetime


@dataclass
class Progress:
    """A resident's own record of what went through (from the platform's answers): what the
    simulator needs to bound the grants a day can still earn, and the rider's memory of a
    denied pass."""

    redeemed: bool = False
    shops: set[int] = field(default_factory=set)
    trips_paid: int = 0
    checked_in: bool = False
    denied_until: int = -1  # day index: a denied pass stays in the drawer until then

    def as_list(self) -> list[Any]:
        return [self.redeemed, sorted(self.shops), self.trips_paid, self.checked_in,
                self.denied_until]  # fmt: skip

    @classmethod
    def from_list(cls, data: list[Any]) -> Progress:
        return cls(bool(data[0]), set(data[1]), int(data[2]), bool(data[3]), int(data[4]))


def write_secret(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    tmp.replace(path)


@dataclass
class CityState:
    seed: int
    residents: int
    home: Path
    totals: Totals = field(default_factory=Totals)
    wallets: dict[int, str] = field(default_factory=dict)
    sessions: dict[int, Session] = field(default_factory=dict)
    progress: dict[int, Progress] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.home / "simulation.json"

    @property
    def sessions_path(self) -> Path:
        return self.home / "secrets" / "simulation-sessions.json"

    @property
    def devices_path(self) -> Path:
        return self.home / "secrets" / "simulation-devices.json"

    def of(self, resident: int) -> Progress:
        return self.progress.setdefault(resident, Progress())

    def load(self) -> int:
        """The next day to simulate (0 on a fresh start); refuses another seed or size."""
        if not self.path.exists():
            return 0
        state = json.loads(self.path.read_text())
        if state["seed"] != self.seed or state["residents"] != self.residents:
            raise RuntimeError(
                f"{self.path} holds a simulation of seed {state['seed']} with "
                f"{state['residents']} residents; reset it (kgo demo --reset) or use those"
            )
        self.totals = Totals.from_dict(state.get("totals", {}))
        self.wallets = {int(k): v for k, v in state.get("wallets", {}).items()}
        self.progress = {
            int(k): Progress.from_list(v) for k, v in state.get("progress", {}).items()
        }
        if self.sessions_path.exists():
            for k, v in json.loads(self.sessions_path.read_text()).items():
                self.sessions[int(k)] = Session(v[0], v[1], v[2], datetime.fromisoformat(v[3]))
        return int(state["next_day"])

    def save(self, next_day: int, shops: int, last_day: str | None) -> None:
        state = {
            "seed": self.seed,
            "residents": self.residents,
            "shops": shops,
            "next_day": next_day,
            "last_day": last_day,
            "totals": self.totals.as_dict(),
            "wallets": {str(k): v for k, v in sorted(self.wallets.items())},
            "progress": {str(k): p.as_list() for k, p in sorted(self.progress.items())},
        }
        # The residents' refresh tokens are secrets: kept apart, 0600, beside the admin token.
        write_secret(self.sessions_path, {
            str(k): [s.wallet_id, s.access, s.refresh, s.refresh_expires.isoformat()]
            for k, s in sorted(self.sessions.items())
        })  # fmt: skip
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.path)

    def devices(self) -> dict[str, str]:
        return json.loads(self.devices_path.read_text()) if self.devices_path.exists() else {}

    def keep_devices(self, devices: dict[str, str]) -> None:
        write_secret(self.devices_path, devices)


class SmsOutbox:
    """Reads one-time codes from the wallet's development notifier ($KGO_HOME/outbox/sms.jsonl)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._codes: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

    def _read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            self._codes[(row.get("to", ""), "*")] = row.get("code", "")

    async def code(self, phone: str, timeout: float = 10.0) -> str | None:
        """The code sent to ``phone``, or None if none came within ``timeout`` seconds (the
        wallet wrote its challenge but stopped before sending: ask again, as a resident taps
        "send a new code")."""
        deadline = time.monotonic() + timeout
        while True:
            async with self._lock:
                self._read()
                found = self._codes.pop((phone, "*"), None)
            if found:
                return found
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)
