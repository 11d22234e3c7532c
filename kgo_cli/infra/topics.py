"""Talking to the broker: readiness, and the event topics `kgo infra up` guarantees."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kgo_cli.infra.errors import InfraError
from kgo_contracts.topics import ALL_TOPICS

#: Event topics feed replay, so they keep their whole history (and are never compacted).
TOPIC_CONFIGS: dict[str, str] = {"retention.ms": "-1", "cleanup.policy": "delete"}
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    partitions_with_leader: int
    retention_ms: str | None


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap: str, timeout_s: float = 5.0
) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await client.start()
        yield client
    finally:
        await client.close()


async def probe(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when the broker answers a metadata request."""
    with _quiet_aiokafka():
        try:
            async with asyncio.timeout(timeout_s), admin_client(bootstrap, timeout_s) as admin:
                await admin.describe_cluster()
        except Exception:
            return False
    return True


async def wait_ready(bootstrap: str, alive: Callable[[], bool], timeout_s: float = 90.0) -> None:
    """Poll with metadata requests until the broker answers; fail fast if it dies."""
    deadline = time.monotonic() + timeout_s
    while not await probe(bootstrap, timeout_s=2.0):
        if not alive():
            raise InfraError("Kafka exited while starting")
        if time.monotonic() > deadline:
            raise InfraError(f"Kafka did not answer on {bootstrap} within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def ensure_topics(bootstrap: str, partitions: int, timeout_s: float = 60.0) -> list[str]:
    """Create missing event topics, keep `retention.ms=-1` on all, wait for partition leaders.
    Returns the names it created."""
    with _quiet_aiokafka():
        async with admin_client(bootstrap, timeout_s=10.0) as admin:
            existing = set(await admin.list_topics())
            missing = [t for t in ALL_TOPICS if t not in existing]
            if missing:
                new = [NewTopic(t, partitions, 1, topic_configs=TOPIC_CONFIGS) for t in missing]
                response = await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
                for name, code, *rest in response.topic_errors:
                    if code not in (0, _TOPIC_ALREADY_EXISTS):
                        raise InfraError(f"Kafka refused to create topic {name}: {rest or code}")
            present = [t for t in ALL_TOPICS if t in existing]
            if present:
                infos = await _describe(admin, present)
                drifted = [i.name for i in infos if i.retention_ms != "-1"]
                if drifted:
                    await admin.alter_configs(
                        [
                            ConfigResource(ConfigResourceType.TOPIC, t, TOPIC_CONFIGS)
                            for t in drifted
                        ]
                    )
            await _wait_leaders(admin, timeout_s)
    return missing


async def describe(bootstrap: str) -> list[TopicInfo]:
    with _quiet_aiokafka():
        async with admin_client(bootstrap) as admin:
            existing = set(await admin.list_topics())
            return await _describe(admin, [t for t in ALL_TOPICS if t in existing])


async def _describe(admin: AIOKafkaAdminClient, names: list[str]) -> list[TopicInfo]:
    if not names:
        return []
    metadata = await admin.describe_topics(names)
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": None}) for t in names]
    retention: dict[str, str | None] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            values = {c["config_names"]: c["config_value"] for c in resource["config_entries"]}
            retention[resource["resource_name"]] = values.get("retention.ms")
    infos = [
        TopicInfo(
            name=t["topic"],
            partitions=len(t["partitions"]),
            partitions_with_leader=sum(1 for p in t["partitions"] if p["leader"] >= 0),
            retention_ms=retention.get(t["topic"]),
        )
        for t in metadata
    ]
    return sorted(infos, key=lambda info: ALL_TOPICS.index(info.name))


async def _wait_leaders(admin: AIOKafkaAdminClient, timeout_s: float) -> None:
    """Right after creation a partition may have no leader yet; producing then fails once."""
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = await admin.describe_topics(list(ALL_TOPICS))
        leaderless = [
            t["topic"]
            for t in metadata
            if t["error_code"] != 0 or not t["partitions"]
            or any(p["leader"] < 0 or p["error_code"] != 0 for p in t["partitions"])
        ]  # fmt: skip
        if not leaderless:
            return
        if time.monotonic() > deadline:
            raise InfraError(f"Kafka topics still have partitions without a leader: {leaderless}")
        await asyncio.sleep(0.1)


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """Connection refusals while polling are expected; keep them off the operator's screen."""
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)
