"""Business time as a port: every service asks a :class:`Clock`, never ``datetime.now``.

Production uses :class:`SystemClock`. Tests use :class:`ManualClock` to walk through code
expiries, campaign windows and double-tap guards. (A shared simulated clock for the demo
profile plugs in here: :class:`SharedClock`, chosen by :func:`business_clock`.) Times are aware
and in Asia/Bangkok: Thailand keeps +07:00 all year, so a fixed offset is exact.

**The shared business clock (demo profile).** The 2022 campaign is simulated on a business
clock that every service of one ``KGO_HOME`` shares: the file ``$KGO_HOME/clock.json``
``{"business": ISO time, "wall": UNIX seconds, "rate": 1.0}``, written (atomically) only by
the simulator. Business time then is ``business + (now_wall - wall) * rate``: it flows at
``rate`` between the simulator's steps, and jumps forward when the simulator sets it. A
service takes it when started with ``KGO_CLOCK=shared`` and ``KGO_PROFILE`` ``development``
or ``demo``; in ``production`` that is refused at start.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from kgo_contracts.base import BANGKOK

__all__ = [
    "BANGKOK",
    "Clock",
    "ManualClock",
    "SharedClock",
    "SystemClock",
    "bangkok_day",
    "business_clock",
    "set_shared_time",
]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current business time, aware, in Asia/Bangkok."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(BANGKOK)


class ManualClock:
    """A clock that moves only when told (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(BANGKOK)).astimezone(BANGKOK)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("business time must be aware")
        self._now = at.astimezone(BANGKOK)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


def bangkok_day(at: datetime) -> str:
    """The Bangkok calendar day of ``at`` as ``YYYY-MM-DD`` (statements, daily caps)."""
    return at.astimezone(BANGKOK).date().isoformat()


#: Profiles in which a shared simulated clock is allowed.
SIMULATED_TIME_PROFILES = ("development", "demo")


def shared_clock_path(home: Path | None = None) -> Path:
    if home is None:
        from kgo_runtime.settings import InfraSettings

        home = InfraSettings().home
    return Path(home) / "clock.json"


class SharedClock:
    """Business time read from ``$KGO_HOME/clock.json`` (see the module's doc), re-read when
    the file changes (checked at most every ``check_seconds``). Before the simulator first
    sets it, it is the system time."""

    def __init__(self, path: Path, check_seconds: float = 0.005) -> None:
        self._path = Path(path)
        self._check = check_seconds
        self._lock = threading.Lock()
        self._checked = 0.0
        self._mtime: int | None = None
        self._anchor: tuple[datetime, float, float] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def _refresh(self) -> None:
        mono = time.monotonic()
        if mono - self._checked < self._check:
            return
        self._checked = mono
        try:
            mtime = self._path.stat().st_mtime_ns
        except FileNotFoundError:
            self._anchor, self._mtime = None, None
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(self._path.read_text())
            business = datetime.fromisoformat(data["business"]).astimezone(BANGKOK)
            self._anchor = (business, float(data["wall"]), float(data.get("rate", 1.0)))
            self._mtime = mtime
        except (OSError, ValueError, KeyError):
            return  # a half-written file cannot happen (atomic rename); keep the last anchor

    def now(self) -> datetime:
        with self._lock:
            self._refresh()
            anchor = self._anchor
        if anchor is None:
            return datetime.now(BANGKOK)
        business, wall, rate = anchor
        return business + timedelta(seconds=max(0.0, time.time() - wall) * rate)


def set_shared_time(path: Path, at: datetime, rate: float = 1.0) -> None:
    """Set the shared business clock to ``at`` (the simulator's only write)."""
    if at.tzinfo is None:
        raise ValueError("business time must be aware")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"business": at.astimezone(BANGKOK).isoformat(), "wall": time.time(), "rate": rate}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def read_shared_time(path: Path) -> datetime | None:
    """The shared business clock's time now, or None when it was never set."""
    if not path.exists():
        return None
    return SharedClock(path).now()


def business_clock(profile: str | None = None, clock: str | None = None) -> Clock:
    """The Clock a service runs on: :class:`SystemClock`, unless ``KGO_CLOCK=shared`` (then
    :class:`SharedClock` on ``$KGO_HOME/clock.json``), which only the ``development`` and
    ``demo`` profiles (``KGO_PROFILE``, default ``development``) allow."""
    profile = (profile or os.environ.get("KGO_PROFILE") or "development").lower()
    clock = (clock or os.environ.get("KGO_CLOCK") or "system").lower()
    if clock == "system":
        return SystemClock()
    if clock != "shared":
        raise RuntimeError(f"KGO_CLOCK={clock!r}: expected 'system' or 'shared'")
    if profile not in SIMULATED_TIME_PROFILES:
        raise RuntimeError(
            f"KGO_CLOCK=shared is refused in the {profile!r} profile: a simulated business "
            f"clock is allowed only in {', '.join(SIMULATED_TIME_PROFILES)}"
        )
    return SharedClock(shared_clock_path())
