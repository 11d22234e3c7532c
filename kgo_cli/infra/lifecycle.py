"""`up` and `down`: start what is missing, stop exactly what we started."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from aiokafka.errors import KafkaError

from kgo_cli.infra import kafka, postgres, processes, topics
from kgo_cli.infra.errors import InfraError
from kgo_contracts.topics import ALL_TOPICS
from kgo_runtime.settings import InfraSettings

T = TypeVar("T")
Say = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def lock_file(settings: InfraSettings) -> Path:
    return settings.home / "run" / "infra.lock"


def ensure_up(settings: InfraSettings | None = None, say: Say = _silent) -> None:
    """Make this KGO_HOME's Kafka and PostgreSQL run and be ready: topics and databases exist.
    Harmless when they already run."""
    settings = settings or InfraSettings()
    with processes.exclusive_lock(lock_file(settings)):
        # Check everything that is about to start first, so a missing program or a taken
        # port leaves nothing half started behind.
        if kafka.running_pid(settings) is None:
            kafka.preflight(settings)
        if postgres.running_pid(settings) is None:
            postgres.preflight(settings)
        kafka_pid = _start_kafka(settings, say)  # the JVM boots while Postgres starts
        _start_postgres(settings, say)
        try:
            created = postgres.ensure_databases(settings)
        except psycopg.Error as exc:
            raise InfraError(f"Creating the service databases failed: {exc}".strip()) from None
        say(f"databases: {len(postgres.service_databases(settings))} ready"
            + (f" (created {', '.join(created)})" if created else ""))  # fmt: skip
        run_sync(_kafka_ready(settings, kafka_pid, say))


def _start_kafka(settings: InfraSettings, say: Say) -> int:
    pid = kafka.running_pid(settings)
    if pid is None:
        pid = kafka.start(settings)
        say(f"kafka {settings.kafka_version}: started pid {pid} on {settings.kafka_bootstrap}")
        return pid
    port = kafka.read_state(settings).get("port", settings.kafka_port)
    if port != settings.kafka_port:
        raise InfraError(
            f"This KGO_HOME's Kafka already runs on port {port}, not {settings.kafka_port}: "
            "run `kgo infra down` first to move it."
        )
    say(f"kafka: already running, pid {pid} on {settings.kafka_bootstrap}")
    return pid


def _start_postgres(settings: InfraSettings, say: Say) -> None:
    pid = postgres.running_pid(settings)
    if pid is None:
        postgres.start(settings)
        pid = postgres.running_pid(settings)
        say(f"postgres {postgres.server_version(settings)}: started pid {pid} "
            f"on {settings.pg_host}:{settings.pg_port}")  # fmt: skip
    else:
        port = postgres.running_port(settings)
        if port != settings.pg_port:
            raise InfraError(
                f"This KGO_HOME's PostgreSQL already runs on port {port}, not "
                f"{settings.pg_port}: run `kgo infra down` first to move it."
            )
        say(f"postgres: already running, pid {pid} on {settings.pg_host}:{settings.pg_port}")
    if not postgres.is_healthy(settings):
        raise InfraError(
            f"PostgreSQL runs but refuses connections as {settings.pg_user} on "
            f"{settings.pg_host}:{settings.pg_port}: see {postgres.paths(settings).log_file}."
        )


async def _kafka_ready(settings: InfraSettings, pid: int, say: Say) -> None:
    log_file = kafka.paths(settings).log_file
    try:
        await topics.wait_ready(settings.kafka_bootstrap, lambda: processes.is_alive(pid))
    except InfraError as exc:
        last = processes.tail_text(log_file, 1).strip()
        raise InfraError(
            f"{exc}: see {log_file}" + (f" (last line: {last})" if last else "")
        ) from None
    try:
        created = await topics.ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
    except KafkaError as exc:
        raise InfraError(f"Creating the event topics failed ({exc!r}): see {log_file}.") from None
    say(f"topics: {len(ALL_TOPICS)} ready, every partition has a leader"
        + (f" (created {len(created)})" if created else ""))  # fmt: skip


def ensure_down(
    settings: InfraSettings | None = None, say: Say = _silent, purge: bool = False
) -> None:
    """Stop the Kafka and PostgreSQL this KGO_HOME started, and nothing else. With ``purge``
    their data folders go too (the next `up` starts from empty)."""
    settings = settings or InfraSettings()
    with processes.exclusive_lock(lock_file(settings)):
        say("kafka: stopped" if kafka.stop(settings) else "kafka: was not running")
        say("postgres: stopped" if postgres.stop(settings) else "postgres: was not running")
        if purge:
            pg = postgres.paths(settings)
            for folder in (kafka.paths(settings).root, pg.root):
                shutil.rmtree(folder, ignore_errors=True)
            pg.pointer.unlink(missing_ok=True)
            say("data: removed")
