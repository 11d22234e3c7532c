"""What `kgo infra` writes for Kafka: the pom that resolves it, its config, its JVM options."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kgo_cli.infra import PrereqError, kafka, kafka_cds, kafka_dist, postgres
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.unit


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


@pytest.fixture
def settings(tmp_path: Path) -> InfraSettings:
    return InfraSettings(
        home=tmp_path / "home", cache_dir=tmp_path / "cache", kafka_port=29092,
        kafka_controller_port=29093, pg_port=25432,
    )  # fmt: skip


def test_broker_is_a_single_node_kraft_combined_broker_and_controller(
    settings: InfraSettings, tmp_path: Path
) -> None:
    props = _props(kafka.render_server_properties(settings, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_broker_config_suits_a_one_node_test_box(settings: InfraSettings, tmp_path: Path) -> None:
    props = _props(kafka.render_server_properties(settings, tmp_path / "data"))
    for internal in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert props[f"{internal}.replication.factor"] == "1"
        assert props[f"{internal}.num.partitions"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["log.cleaner.dedupe.buffer.size"]) <= 4 * 1024 * 1024
    assert props["auto.create.topics.enable"] == "false"


def test_jvm_gets_a_small_heap_and_the_serial_collector(settings: InfraSettings) -> None:
    options = kafka.jvm_options(settings, Path("/x/log4j2.properties"))
    assert "-Xmx512m" in options
    assert "-XX:+UseSerialGC" in options
    assert "-Dlog4j2.configurationFile=/x/log4j2.properties" in options


def test_cluster_id_is_16_random_bytes_in_base64url_without_padding() -> None:
    ids = {kafka.new_cluster_id() for _ in range(20)}
    assert len(ids) == 20
    for cluster_id in ids:
        assert "=" not in cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_cluster_id_never_looks_like_an_option() -> None:
    # one id in 64 would start with "-" and break `StorageTool format -t <id>`
    assert not any(kafka.new_cluster_id().startswith("-") for _ in range(5_000))


def test_pom_pins_kafka_and_the_log4j_backend_kafka_4_uses() -> None:
    pom = kafka_dist.render_pom("4.1.1", "2.24.3")
    assert "<artifactId>kafka_2.13</artifactId><version>4.1.1</version>" in pom
    for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl"):
        assert f"<artifactId>{artifact}</artifactId><version>2.24.3</version>" in pom
    assert "slf4j2" not in pom


def test_cached_kafka_is_reused_without_maven(
    settings: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka_dist.dist_dir(settings).mkdir(parents=True)
    (kafka_dist.dist_dir(settings) / kafka_dist.COMPLETE_MARKER).write_text("4.1.1")
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert kafka_dist.ensure_resolved(settings) is False


def test_a_half_download_is_redone_and_marked_complete(
    settings: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = kafka_dist.libs_dir(settings)
    libs.mkdir(parents=True)
    (libs / "half-written.jar").write_text("")
    calls: list[list[str]] = []

    def fake_mvn(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        libs.mkdir(parents=True, exist_ok=True)
        (libs / "kafka_2.13-4.1.1.jar").write_text("")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr("kgo_cli.infra.kafka_dist.require_maven", lambda: "mvn")
    monkeypatch.setattr("kgo_cli.infra.kafka_dist.subprocess.run", fake_mvn)
    assert kafka_dist.ensure_resolved(settings) is True
    assert "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies" in calls[0]
    assert not (libs / "half-written.jar").exists()
    assert kafka_dist.is_resolved(settings)


def test_a_missing_maven_is_one_sentence_saying_what_to_install(
    settings: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(PrereqError, match=r"apt-get install -y maven") as caught:
        kafka_dist.ensure_resolved(settings)
    assert "\n" not in str(caught.value)


def test_postgres_lives_under_kgo_home_when_its_owner_can_reach_it(
    settings: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.home.mkdir(parents=True)
    monkeypatch.setattr(postgres, "_owner_can_reach", lambda folder: True)
    assert postgres.paths(settings).data_dir == settings.home.resolve() / "postgres" / "data"


def test_postgres_moves_to_var_tmp_when_kgo_home_is_private(
    settings: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.home.mkdir(parents=True)
    monkeypatch.setattr(postgres, "_owner_can_reach", lambda folder: False)
    root = postgres.paths(settings).root
    assert root.parent == Path("/var/tmp")
    assert root.name.startswith("kgo-pg-")
    other = settings.model_copy(update={"home": settings.home.parent / "other"})
    assert postgres.paths(other).root != root


def test_the_first_clean_stop_dumps_a_class_archive_that_later_starts_map(
    settings: InfraSettings,
) -> None:
    java = sys.executable  # any real file stands in for the JVM it keys the archive on
    options, pending = kafka_cds.jvm_options(settings, java)
    assert pending is not None
    assert f"-XX:ArchiveClassesAtExit={pending}" in options
    pending.write_bytes(b"archive")  # what the JVM writes on exit

    kafka_cds.promote(pending)

    final = kafka_cds.archive_path(settings, java)
    assert final.read_bytes() == b"archive"
    options, pending = kafka_cds.jvm_options(settings, java)
    assert (f"-XX:SharedArchiveFile={final}" in options, pending) == (True, None)
    disabled = settings.model_copy(update={"kafka_cds": False})
    assert kafka_cds.jvm_options(disabled, java) == ([], None)
