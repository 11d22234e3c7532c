"""Waiting until the platform has finished reacting: every relay has published what its
service stored, and every consumer has processed its topics to their end offsets.

Reactions (a welcome grant after a sign-up, a mission's reward after a redemption) travel
service -> Kafka -> service asynchronously; the simulator waits here before it reads what
they changed (a budget, a balance), so that what it reads, and so what it decides next, is
the same run after run. Seen from outside only: each service's ``/metrics``
(``kgo_relay_lag_events``, ``kgo_consumer_position``) beside the topics' end offsets on Kafka."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

Positions = dict[tuple[str, str, int], float]  # (consumer, topic, partition) -> next offset


@dataclass
class Snapshot:
    relays_idle: bool
    positions: Positions
    ends: dict[tuple[str, int], int]

    @property
    def caught_up(self) -> bool:
        return self.relays_idle and all(
            self.ends.get((topic, partition), 0) <= position
            for (_, topic, partition), position in self.positions.items()
        )


def parse_metrics(text: str) -> tuple[bool, Positions]:
    """Whether every relay's lag is 0, and every consumer's position, from a ``/metrics``."""
    idle, positions = True, {}
    for line in text.splitlines():
        if line.startswith("kgo_relay_lag_events{"):
            idle = idle and float(line.rsplit(" ", 1)[1]) == 0
        elif line.startswith("kgo_consumer_position{"):
            labels, value = line[len("kgo_consumer_position{") :].rsplit("} ", 1)
            fields = dict(part.split("=", 1) for part in labels.split('",') if "=" in part)
            clean = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
            key = (clean["consumer"], clean["topic"], int(clean["partition"]))
            positions[key] = float(value)
    return idle, positions


class Quiescence:
    def __init__(self, http: Callable[[], httpx.AsyncClient], urls: list[str], bootstrap: str):
        self.http = http
        self.urls = urls
        self.bootstrap = bootstrap
        self._kafka: AIOKafkaConsumer | None = None
        self.waited = 0.0  # seconds spent here (the bench reports it)
        self.count = 0

    async def close(self) -> None:
        if self._kafka is not None:
            await self._kafka.stop()
            self._kafka = None

    async def snapshot(self) -> Snapshot:
        idle, positions = True, {}
        for url in self.urls:
            try:
                answer = await self.http().get(f"{url}/metrics", timeout=5)
            except httpx.HTTPError:
                continue  # not running (the wallet's consent routes only)
            relays_idle, found = parse_metrics(answer.text)
            idle = idle and relays_idle
            positions.update(found)
        partitions = sorted({(t, p) for _, t, p in positions})
        if self._kafka is None:
            self._kafka = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await self._kafka.start()
        tps = [TopicPartition(t, p) for t, p in partitions]
        ends = await self._kafka.end_offsets(tps) if tps else {}
        return Snapshot(idle, positions, {(tp.topic, tp.partition): o for tp, o in ends.items()})

    async def wait(self, timeout: float = 120.0, settle: float = 0.25) -> bool:
        """Until two snapshots ``settle`` seconds apart are caught up with the same end
        offsets (a relay publishes within milliseconds of a commit, so a reaction in
        flight shows as a moved end offset); False after ``timeout``."""
        began = time.monotonic()
        self.count += 1
        previous: Snapshot | None = None
        try:
            while time.monotonic() - began < timeout:
                try:
                    now = await self.snapshot()
                except Exception:  # a broker restarting: look again
                    previous = None
                    await asyncio.sleep(0.5)
                    continue
                if now.caught_up and previous is not None and previous.ends == now.ends:
                    return True
                previous = now if now.caught_up else None
                await asyncio.sleep(settle)
            return False
        finally:
            self.waited += time.monotonic() - began
