"""Waiting until the platform has finished reacting: every relay has published what its
service stored, and every consumer has processed its topics to their end offsets.

Reactions (a welcome grant after a sign-up, a mission's reward after a redemption) travel
service -> Kafka -> service asynchronously; the simulator waits here before it reads what
they changed (a budget, a balance), so that what it reads, and so what it decides next, is
the same run after run. Seen from outside only: the ``/metrics`` of every process of each
service (``kgo_relay_lag_events``, ``kgo_consumer_position``) beside the topics' end offsets
on Kafka. A service lists its processes at ``/metrics/targets`` (kgo_runtime.targets): itself
when it runs alone, or each process of its group on its own port (the relay and consumers
are in the background process, or in whichever HTTP process leads), each scraped once.

What is missing from a scrape is never taken for caught up: a process the service listed, or
that answered its ``/metrics`` once, and that does not answer now (starting, killed and
restarting, too busy to answer), a relay the service reported before and none of its
processes reports now (a restarted process before its relay opened, leadership passing to
another process), and a partition of a topic its consumer reads that it reports no position
for (a restarted consumer not yet positioned) all keep the barrier waiting. A service that
never answered is not running (a run of some services only). What has been seen is kept for
the life of the :class:`Seen` passed in, so a runner's later barriers know it too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.targets import TARGETS_PATH, listed

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


@dataclass
class Seen:
    """What the barriers of one run have seen: the processes each service listed, those that
    answered ``/metrics``, the relays and the (consumer, topic) pairs each service reported
    (from any of its processes), and each topic's partitions."""

    answered: set[str] = field(default_factory=set)
    targets: dict[str, list[str]] = field(default_factory=dict)
    relays: dict[str, set[str]] = field(default_factory=dict)
    reads: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    partitions: dict[str, list[int]] = field(default_factory=dict)


def relay_names(text: str) -> set[str]:
    """The relays a ``/metrics`` reports a lag for."""
    prefix = 'kgo_relay_lag_events{relay="'
    lines = text.splitlines()
    return {line[len(prefix) :].split('"', 1)[0] for line in lines if line.startswith(prefix)}


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
    def __init__(
        self, http: Callable[[], httpx.AsyncClient], urls: list[str], bootstrap: str,
        seen: Seen | None = None,
    ) -> None:  # fmt: skip
        self.http = http
        self.urls = urls
        self.bootstrap = bootstrap
        self.seen = seen if seen is not None else Seen()
        self._kafka: AIOKafkaConsumer | None = None
        self.waited = 0.0  # seconds spent here (the bench reports it)
        self.count = 0

    async def close(self) -> None:
        if self._kafka is not None:
            await self._kafka.stop()
            self._kafka = None

    async def snapshot(self) -> Snapshot:
        idle, positions = True, {}
        seen = self.seen
        for url in self.urls:
            listed, targets = await self._targets(url)
            relays: set[str] = set()
            found: Positions = {}
            for target in targets:
                page = await self._scrape(target)
                if page is None:
                    if listed or target in seen.answered:
                        idle = False  # starting, restarting, or too busy to answer
                    continue  # never answered: not running (a run of some services only)
                seen.answered.add(target)
                relays_idle, scraped = parse_metrics(page)
                idle = idle and relays_idle
                relays |= relay_names(page)
                for key, position in scraped.items():  # two processes for a moment: the lower
                    found[key] = min(position, found.get(key, position))
            known = seen.relays.setdefault(url, set())
            idle = idle and known <= relays
            known |= relays
            reads = seen.reads.setdefault(url, set())
            reads |= {(consumer, topic) for consumer, topic, _ in found}
            for consumer, topic in reads:
                for partition in await self._partitions(topic):
                    # No position reported (not yet positioned): it has read nothing yet.
                    found.setdefault((consumer, topic, partition), 0.0)
            positions.update(found)
        partitions = sorted({(t, p) for _, t, p in positions})
        if self._kafka is None:
            self._kafka = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await self._kafka.start()
        tps = [TopicPartition(t, p) for t, p in partitions]
        ends = await self._kafka.end_offsets(tps) if tps else {}
        return Snapshot(idle, positions, {(tp.topic, tp.partition): o for tp, o in ends.items()})

    async def _targets(self, url: str) -> tuple[bool, list[str]]:
        """The processes of the service at ``url`` (its ``/metrics/targets``, asked until it
        answers once), and whether the service listed them: if not, ``url`` alone."""
        known = self.seen.targets.get(url)
        if known is not None:
            return True, known
        try:
            answer = await self.http().get(f"{url}{TARGETS_PATH}", timeout=5)
            if answer.status_code == 404:  # a service that lists none: itself only
                known = [url]
            else:
                answer.raise_for_status()
                known = [target.url for target in listed(answer.json())]
        except (httpx.HTTPError, ValueError):
            return False, [url]
        self.seen.targets[url] = known
        return True, known

    async def _scrape(self, target: str) -> str | None:
        """The ``/metrics`` of one process; None when it does not answer."""
        try:
            answer = await self.http().get(f"{target}/metrics", timeout=5)
            answer.raise_for_status()
        except httpx.HTTPError:
            return None
        return answer.text

    async def _partitions(self, topic: str) -> list[int]:
        known = self.seen.partitions.get(topic)
        if known is None:
            found = await topic_partitions(self.bootstrap, topic)
            known = self.seen.partitions[topic] = [tp.partition for tp in found]
        return known

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
