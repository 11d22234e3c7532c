"""A replay recognises republished events in memory: a ce_id applies only where it was first
read, a retried batch applies again, and only a window of recent ids is kept."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from services.projections.entrypoints.replay_batches import RecentIds

pytestmark = pytest.mark.unit
TP, OTHER = TopicPartition("t", 0), TopicPartition("t", 1)


def test_a_republished_event_is_dropped_and_a_retry_is_not() -> None:
    ids = RecentIds(window=100)
    assert ids.first(TP, "a", 10)
    assert not ids.first(TP, "a", 250)  # the relay sent it again after a crash
    assert ids.first(TP, "a", 10)  # the batch of offset 10 retried after a rollback
    assert ids.first(OTHER, "a", 3)  # partitions are kept apart


def test_only_the_window_is_remembered() -> None:
    ids = RecentIds(window=3)
    for offset, ce_id in enumerate("abcd"):
        assert ids.first(TP, ce_id, offset)
    assert ids.first(TP, "a", 99)  # forgotten: older than the window
    assert not ids.first(TP, "d", 99)


def test_the_window_slides_over_a_long_partition() -> None:
    ids = RecentIds(window=3)
    for offset in range(1000):
        assert ids.first(TP, f"id-{offset}", offset)
    for offset in range(997, 1000):  # the last three are remembered where they were read
        assert not ids.first(TP, f"id-{offset}", offset + 5000)
        assert ids.first(TP, f"id-{offset}", offset)
    assert ids.first(TP, "id-996", 9999)  # the fourth-last is forgotten
