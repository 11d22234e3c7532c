"""`kgo infra` against the real servers.

The default instance (ports 19092/15432) is shared by every integration test, so it is only
ever brought *up* here; stopping and restarting is told on a second instance with its own
KGO_HOME and ports, which must leave no process behind.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kgo_cli.infra import kafka, postgres
from kgo_contracts.topics import ALL_TOPICS
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.integration


def kgo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", *args],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def test_up_twice_is_harmless() -> None:
    first = kgo("infra", "up")
    assert first.returncode == 0, first.stderr
    settings = InfraSettings()
    pids = (kafka.running_pid(settings), postgres.running_pid(settings))

    second = kgo("infra", "up")

    assert second.returncode == 0, second.stderr
    assert "kafka: already running" in second.stdout
    assert "postgres: already running" in second.stdout
    assert re.search(r"infra up in \d+\.\d s", second.stdout)
    assert (kafka.running_pid(settings), postgres.running_pid(settings)) == pids


def test_status_says_what_runs_where() -> None:
    result = kgo("infra", "status")
    assert result.returncode == 0, result.stdout
    settings = InfraSettings()
    assert f"kafka: up (pid {kafka.running_pid(settings)})" in result.stdout
    assert f"postgres: up (pid {postgres.running_pid(settings)})" in result.stdout
    assert f"127.0.0.1:{settings.kafka_port}" in result.stdout
    assert str(postgres.paths(settings).data_dir) in result.stdout


async def test_every_topic_has_its_partitions_and_keeps_history_forever() -> None:
    settings = InfraSettings()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        metadata = {t["topic"]: t for t in await admin.describe_topics(list(ALL_TOPICS))}
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in ALL_TOPICS]
        responses = await admin.describe_configs(resources)
    finally:
        await admin.close()
    for topic in ALL_TOPICS:
        partitions = metadata[topic]["partitions"]
        assert len(partitions) == settings.topic_partitions, topic
        assert all(p["leader"] >= 0 for p in partitions), topic
    retention = {
        r["resource_name"]: {c["config_names"]: c["config_value"] for c in r["config_entries"]}
        for response in responses
        for r in response.to_object()["resources"]
    }
    assert {t: retention[t]["retention.ms"] for t in ALL_TOPICS} == dict.fromkeys(ALL_TOPICS, "-1")


def test_every_service_has_its_database() -> None:
    settings = InfraSettings()
    with psycopg.connect(settings.database_url("wallet"), connect_timeout=5) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert set(postgres.service_databases(settings)) <= names


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def second_instance(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private instance: its own KGO_HOME (0700, so Postgres must live elsewhere) and ports."""
    kafka_port, controller_port, pg_port = _free_ports(3)
    home = tmp_path / "home"
    env = {**os.environ, "KGO_HOME": str(home), "KGO_KAFKA_PORT": str(kafka_port)}
    env.update(KGO_KAFKA_CONTROLLER_PORT=str(controller_port), KGO_PG_PORT=str(pg_port))
    env["KGO_TOPIC_PARTITIONS"] = "2"
    yield env
    kgo("infra", "down", "--purge", env=env)


def _processes_mentioning(*needles: str) -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in args for needle in needles):
            found.append(f"{proc.name}: {args}")
    return found


def test_down_stops_exactly_what_up_started(second_instance: dict[str, str]) -> None:
    env = second_instance
    settings = InfraSettings(
        home=Path(env["KGO_HOME"]), kafka_port=int(env["KGO_KAFKA_PORT"]),
        kafka_controller_port=int(env["KGO_KAFKA_CONTROLLER_PORT"]),
        pg_port=int(env["KGO_PG_PORT"]),
    )  # fmt: skip
    default = InfraSettings()
    shared_pids = (kafka.running_pid(default), postgres.running_pid(default))

    assert kgo("infra", "up", env=env).returncode == 0
    assert kgo("infra", "status", env=env).returncode == 0
    pg_root = postgres.paths(settings).root
    ours = (str(settings.home), str(pg_root))
    assert _processes_mentioning(*ours)

    down = kgo("infra", "down", env=env)

    assert down.returncode == 0, down.stderr
    assert "kafka: stopped" in down.stdout and "postgres: stopped" in down.stdout
    assert _processes_mentioning(*ours) == []
    assert kgo("infra", "status", env=env).returncode == 1
    assert (kafka.running_pid(default), postgres.running_pid(default)) == shared_pids

    again = kgo("infra", "up", env=env)  # restarts on the data it kept
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    assert kgo("infra", "down", "--purge", env=env).returncode == 0
    assert _processes_mentioning(*ours) == []
    assert not pg_root.exists()
