"""The single-node KRaft Kafka broker (combined broker and controller) of `kgo infra`."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kgo_cli.infra import kafka_cds, kafka_dist, processes
from kgo_cli.infra.errors import InfraError
from kgo_cli.infra.prereqs import require_java
from kgo_runtime.settings import InfraSettings

LOG4J2_CONFIG = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


@dataclass(frozen=True)
class KafkaPaths:
    root: Path
    data_dir: Path
    server_properties: Path
    log4j_config: Path
    pid_file: Path
    state_file: Path
    log_file: Path


def paths(settings: InfraSettings) -> KafkaPaths:
    home = settings.home.absolute()  # the broker runs elsewhere: no relative paths for it
    root = home / "kafka"
    return KafkaPaths(
        root=root,
        data_dir=root / "data",
        server_properties=root / "server.properties",
        log4j_config=root / "log4j2.properties",
        pid_file=home / "run" / "kafka.pid",
        state_file=home / "run" / "kafka.json",
        log_file=home / "logs" / "kafka.log",
    )


def render_server_properties(settings: InfraSettings, data_dir: Path) -> str:
    host = settings.kafka_host
    broker, controller = settings.kafka_port, settings.kafka_controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{host}:{controller}",
        "listeners": f"PLAINTEXT://{host}:{broker},CONTROLLER://{host}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{broker},CONTROLLER://{host}:{controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        # Topics are created on purpose by `kgo infra up`, never by a typo in a consumer.
        "auto.create.topics.enable": "false",
        "num.partitions": str(settings.topic_partitions),
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        # A one-broker test box: no rebalance delay, and no 128 MiB dedupe buffer on the heap.
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def jvm_options(settings: InfraSettings, log4j_config: Path) -> list[str]:
    return [
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseSerialGC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j_config}",
    ]


def new_cluster_id() -> str:
    """16 random bytes, base64url without padding — never starting with "-", which the
    storage tool's argument parser would take for an option (Kafka's own ids avoid it too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def running_pid(settings: InfraSettings) -> int | None:
    p = paths(settings)
    return processes.running_pid(p.pid_file, str(p.server_properties))


def read_state(settings: InfraSettings) -> dict[str, object]:
    try:
        state: dict[str, object] = json.loads(paths(settings).state_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return state


def preflight(settings: InfraSettings) -> str:
    """Fail in one sentence before anything starts: Java 17+ and free ports; returns `java`."""
    java = require_java()
    processes.require_free_port(settings.kafka_host, settings.kafka_port, "Kafka", "KGO_KAFKA_PORT")
    processes.require_free_port(
        settings.kafka_host, settings.kafka_controller_port, "Kafka's controller",
        "KGO_KAFKA_CONTROLLER_PORT",
    )  # fmt: skip
    return java


def start(settings: InfraSettings) -> int:
    """Resolve, configure, format (once) and launch the broker; returns without waiting."""
    java = preflight(settings)
    kafka_dist.ensure_resolved(settings)
    p = paths(settings)
    p.data_dir.mkdir(parents=True, exist_ok=True)
    p.pid_file.parent.mkdir(parents=True, exist_ok=True)
    p.server_properties.write_text(render_server_properties(settings, p.data_dir))
    p.log4j_config.write_text(LOG4J2_CONFIG)
    classpath = f"{kafka_dist.libs_dir(settings)}/*"
    if not (p.data_dir / "meta.properties").exists():
        _format(java, classpath, p)
    _rotate(p.log_file)
    cds_options, cds_pending = kafka_cds.jvm_options(settings, java)
    argv = [java, *jvm_options(settings, p.log4j_config), *cds_options, "-cp", classpath]
    pid = processes.spawn_detached(
        [*argv, "kafka.Kafka", str(p.server_properties)], p.log_file, p.root
    )
    p.pid_file.write_text(f"{pid}\n")
    state = {
        "pid": pid, "version": settings.kafka_version, "host": settings.kafka_host,
        "port": settings.kafka_port, "controller_port": settings.kafka_controller_port,
        "data_dir": str(p.data_dir), "started_at": time.time(),
        "cds_pending": str(cds_pending) if cds_pending else None,
    }  # fmt: skip
    p.state_file.write_text(json.dumps(state, indent=2) + "\n")
    return pid


def _rotate(log_file: Path, max_bytes: int = 50 * 1024 * 1024) -> None:
    """Keep one previous log: every start appends, so a long-lived box would grow forever."""
    if log_file.exists() and log_file.stat().st_size > max_bytes:
        log_file.replace(log_file.with_suffix(".log.1"))


def _format(java: str, classpath: str, p: KafkaPaths) -> None:
    argv = [
        java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        f"-Dlog4j2.configurationFile={p.log4j_config}", "-cp", classpath,
        "kafka.tools.StorageTool", "format", "--standalone", "-t", new_cluster_id(),
        "-c", str(p.server_properties),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    p.log_file.parent.mkdir(parents=True, exist_ok=True)
    with p.log_file.open("a") as log:
        log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise InfraError(f"Formatting Kafka's data folder {p.data_dir} failed: see {p.log_file}.")


def stop(settings: InfraSettings) -> bool:
    """Stop the broker this KGO_HOME started; True if one was running."""
    p = paths(settings)
    pid = running_pid(settings)
    if pid is not None:
        state = read_state(settings)
        if processes.terminate(pid, grace_s=30.0) and state.get("cds_pending"):
            kafka_cds.promote(Path(str(state["cds_pending"])))
        port = state.get("port", settings.kafka_port)
        processes.wait_port_free(settings.kafka_host, int(str(port)), 5.0)
    p.pid_file.unlink(missing_ok=True)
    return pid is not None
