"""The runtime's Kafka clients log in to a SCRAM-SHA-512 listener as the KafkaUser of
deploy/k8s does, and a wrong password fails at start, saying so.

A throwaway broker of this module's own (free ports, its own data folder; never the shared one):
`kgo infra`'s broker settings with the client listener switched to SASL_PLAINTEXT, and the users
created by `kafka-storage format --add-scram`.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from kgo_cli.infra import kafka, kafka_dist, processes
from kgo_cli.infra.prereqs import require_java
from kgo_cli.infra.processes import free_port
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.kafka_security import (
    KafkaSecuritySettings,
    kafka_client_options,
    reset_kafka_client_options,
)
from kgo_runtime.relay import PRODUCER_OPTIONS
from kgo_runtime.settings import InfraSettings
from services.wallet.adapters.topic_reader import read_topic

pytestmark = pytest.mark.integration

USER, PASSWORD = "kgo-wallet", "wallet-" + uuid.uuid4().hex
ADMIN, ADMIN_PASSWORD = "admin", "admin-" + uuid.uuid4().hex
JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required"


def sasl_properties(settings: InfraSettings, data_dir: Path) -> str:
    """`kgo infra`'s single-node broker, its client listener made SASL_PLAINTEXT/SCRAM."""
    host, port, controller = (
        settings.kafka_host,
        settings.kafka_port,
        settings.kafka_controller_port,
    )
    plain = kafka.render_server_properties(settings, data_dir)
    props = dict(line.split("=", 1) for line in plain.splitlines() if line)
    props.update({
        "listeners": f"SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        "advertised.listeners": f"SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
            f'{JAAS} username="{ADMIN}" password="{ADMIN_PASSWORD}";'
        ),
    })  # fmt: skip
    return "".join(f"{k}={v}\n" for k, v in props.items())


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SASL broker of this module's own; yields its bootstrap address."""
    home = tmp_path_factory.mktemp("sasl-kafka")
    settings = InfraSettings(
        home=home, kafka_port=free_port(), kafka_controller_port=free_port(), kafka_heap="256m"
    )
    java = require_java()
    kafka_dist.ensure_resolved(settings)
    p = kafka.paths(settings)
    p.data_dir.mkdir(parents=True)
    p.server_properties.write_text(sasl_properties(settings, p.data_dir))
    p.log4j_config.write_text(kafka.LOG4J2_CONFIG)
    classpath = f"{kafka_dist.libs_dir(settings)}/*"
    jvm = [java, "-XX:+UseSerialGC", f"-Dlog4j2.configurationFile={p.log4j_config}"]
    formatted = subprocess.run(
        [*jvm, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath,
         "kafka.tools.StorageTool", "format", "--standalone", "-t", kafka.new_cluster_id(),
         "-c", str(p.server_properties),
         "--add-scram", f"SCRAM-SHA-512=[name={ADMIN},password={ADMIN_PASSWORD}]",
         "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    argv = [*kafka.jvm_options(settings, p.log4j_config), "-cp", classpath]
    pid = processes.spawn_detached(
        [java, *argv, "kafka.Kafka", str(p.server_properties)], p.log_file, p.root
    )
    try:
        deadline = time.monotonic() + 60
        while "Kafka Server started" not in p.log_file.read_text(errors="replace"):
            assert processes.is_alive(pid), processes.tail_text(p.log_file, 40)
            assert time.monotonic() < deadline, processes.tail_text(p.log_file, 40)
            time.sleep(0.1)
        yield settings.kafka_bootstrap
    finally:
        processes.terminate(pid, grace_s=10.0)


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The environment a wallet pod of deploy/k8s gets (here the password as a mounted file)."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    reset_kafka_client_options()
    monkeypatch.setenv("KGO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KGO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KGO_KAFKA_SASL_USERNAME", USER)
    monkeypatch.setenv("KGO_KAFKA_SASL_PASSWORD_FILE", str(secret))
    yield
    reset_kafka_client_options()


async def test_the_runtime_logs_in_with_its_kafka_user(broker: str, login: None) -> None:
    topic = f"kgo.sasl.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker, **kafka_client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    # kgo_runtime's admin look-up, a producer as the relay builds it, the wallet's topic reader.
    assert [tp.partition for tp in await topic_partitions(broker, topic)] == [0, 1]
    producer = AIOKafkaProducer(
        bootstrap_servers=broker, **PRODUCER_OPTIONS, **kafka_client_options()
    )
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"not-an-envelope-{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    records = [r async for r in read_topic(broker, topic)]
    assert len(records) == 3 and all(r.error is not None for r in records)


@pytest.mark.parametrize("password", ["wrong-" + uuid.uuid4().hex, PASSWORD.upper()])
async def test_a_wrong_password_fails_at_start_saying_why(
    broker: str, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    options = kafka_client_options(
        KafkaSecuritySettings(
            security_protocol="SASL_PLAINTEXT", sasl_username=USER, sasl_password=password
        )
    )
    for client in (
        AIOKafkaProducer(bootstrap_servers=broker, request_timeout_ms=5000, **options),
        AIOKafkaConsumer(bootstrap_servers=broker, request_timeout_ms=5000, **options),
    ):
        caplog.clear()
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await client.start()
        await client.stop()
        # aiokafka keeps the reason in its log (which the services' JSON logs carry).
        said = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("aiokafka"))
        assert "SaslAuthenticationFailed" in said and "invalid credentials" in said, said
        assert password not in said


async def test_clients_without_a_login_are_refused(broker: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker, request_timeout_ms=3000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
