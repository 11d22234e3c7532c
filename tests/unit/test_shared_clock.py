"""The shared business clock of the demo profile, and the factory that refuses it in
production."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kgo_runtime.clock import (
    BANGKOK,
    SharedClock,
    SystemClock,
    business_clock,
    read_shared_time,
    set_shared_time,
)

pytestmark = pytest.mark.unit

T0 = datetime(2022, 6, 9, 7, 0, tzinfo=BANGKOK)


def test_unset_shared_clock_is_the_system_time(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json")
    assert abs(clock.now() - datetime.now(BANGKOK)) < timedelta(seconds=5)
    assert read_shared_time(tmp_path / "clock.json") is None


def test_the_simulator_sets_it_and_every_reader_follows(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    reader = SharedClock(path, check_seconds=0)
    set_shared_time(path, T0)
    assert T0 <= reader.now() < T0 + timedelta(seconds=5)
    assert reader.now().utcoffset() == timedelta(hours=7)
    set_shared_time(path, T0 + timedelta(days=3), rate=0)
    assert reader.now() == T0 + timedelta(days=3)  # rate 0: frozen
    with pytest.raises(ValueError):
        set_shared_time(path, datetime(2022, 6, 9))


def test_business_clock_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KGO_HOME", str(tmp_path))
    monkeypatch.delenv("KGO_CLOCK", raising=False)
    assert isinstance(business_clock(), SystemClock)
    assert isinstance(business_clock("demo", "shared"), SharedClock)
    assert isinstance(business_clock("development", "shared"), SharedClock)
    with pytest.raises(RuntimeError, match="refused in the 'production' profile"):
        business_clock("production", "shared")
    with pytest.raises(RuntimeError):
        business_clock("demo", "sundial")
    monkeypatch.setenv("KGO_CLOCK", "shared")
    monkeypatch.setenv("KGO_PROFILE", "production")
    with pytest.raises(RuntimeError):
        business_clock()
