"""What runs where: `kgo infra status` and the `status()` function behind it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from kgo_cli.infra import kafka, postgres, topics
from kgo_cli.infra.lifecycle import run_sync
from kgo_contracts.topics import ALL_TOPICS
from kgo_runtime.settings import InfraSettings


@dataclass
class ComponentStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    endpoint: str
    version: str | None
    data_dir: Path
    log_file: Path
    details: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if not self.running:
            return "down"
        return "up" if self.healthy else "running but not answering"


@dataclass
class InfraStatus:
    home: Path
    components: list[ComponentStatus]

    @property
    def ok(self) -> bool:
        return all(c.healthy for c in self.components)

    def as_dict(self) -> dict[str, Any]:
        components = {c.name: {**asdict(c), "state": c.state} for c in self.components}
        plain: dict[str, Any] = json.loads(
            json.dumps({"home": self.home, "ok": self.ok, **components}, default=str)
        )
        return plain

    def render(self) -> str:
        lines = [f"KGO_HOME {self.home}"]
        for c in self.components:
            lines.append(f"{c.name}: {c.state}" + (f" (pid {c.pid})" if c.pid else ""))
            lines.append(f"  endpoint  {c.endpoint}")
            lines.append(f"  version   {c.version or '-'}")
            lines.append(f"  data dir  {c.data_dir}")
            lines.append(f"  log       {c.log_file}")
            lines.extend(f"  {detail}" for detail in c.details)
        return "\n".join(lines)


def status(settings: InfraSettings | None = None) -> InfraStatus:
    settings = settings or InfraSettings()
    return InfraStatus(settings.home, [kafka_status(settings), postgres_status(settings)])


def kafka_status(settings: InfraSettings) -> ComponentStatus:
    p = kafka.paths(settings)
    pid = kafka.running_pid(settings)
    state = kafka.read_state(settings)
    port = state.get("port", settings.kafka_port) if pid else settings.kafka_port
    bootstrap = f"{settings.kafka_host}:{port}"
    healthy = pid is not None and run_sync(topics.probe(bootstrap))
    result = ComponentStatus(
        name="kafka", running=pid is not None, healthy=healthy, pid=pid,
        endpoint=f"{bootstrap} (controller :{state.get('controller_port', '-')})",
        version=str(state.get("version", settings.kafka_version)),
        data_dir=p.data_dir, log_file=p.log_file,
    )  # fmt: skip
    if healthy:
        infos = run_sync(topics.describe(bootstrap))
        result.details.append(f"topics    {len(infos)}/{len(ALL_TOPICS)} present")
        result.details.extend(
            f"  {i.name}: {i.partitions} partitions, {i.partitions_with_leader} with leader, "
            f"retention.ms={i.retention_ms}"
            for i in infos
        )
        result.healthy = len(infos) == len(ALL_TOPICS)
    return result


def postgres_status(settings: InfraSettings) -> ComponentStatus:
    p = postgres.paths(settings)
    pid = postgres.running_pid(settings)
    port = (postgres.running_port(settings) or settings.pg_port) if pid else settings.pg_port
    running_settings = settings.model_copy(update={"pg_port": port})
    healthy = pid is not None and postgres.is_healthy(running_settings)
    result = ComponentStatus(
        name="postgres", running=pid is not None, healthy=healthy, pid=pid,
        endpoint=f"{settings.pg_host}:{port} (socket dir {p.socket_dir})",
        version=postgres.server_version(settings), data_dir=p.data_dir, log_file=p.log_link,
    )  # fmt: skip
    if healthy:
        try:
            present = postgres.existing_databases(running_settings)
        except psycopg.Error:
            present = []
        wanted = postgres.service_databases(settings)
        missing = [name for name in wanted if name not in present]
        result.details.append(
            f"databases {len(wanted) - len(missing)}/{len(wanted)} present"
            + (f" (missing {', '.join(missing)})" if missing else f" ({', '.join(wanted)})")
        )
        result.healthy = not missing
    return result
