"""docker-compose.yml, checked without a Docker engine: Debian's `docker-compose config`
accepts it (`kgo infra compose` installs it), every part of the platform is there with its
ports, health checks and start order, and every variable a service is given (directly or as
a secret file) is a real field of that service's settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kgo_cli.infra.prereqs import DOCKER_COMPOSE
from kgo_cli.infra.tools import ensure_compose_secrets
from kgo_contracts.topics import ALL_TOPICS
from kgo_runtime.settings import PROJECT_ROOT, SERVICE_NAMES, SERVICE_PORTS, InfraSettings

from .settings_env import env_names, service_env

pytestmark = pytest.mark.unit

ONE_SHOTS = {"kafka-topics", "setup"}
EVERYTHING = {"postgres", "kafka", "prometheus", "grafana", *ONE_SHOTS, *SERVICE_NAMES}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    executable = shutil.which("docker-compose") or str(DOCKER_COMPOSE)
    if not Path(executable).exists():
        pytest.fail("docker-compose is missing: run `uv run kgo infra compose` (scripts/test does)")
    done = subprocess.run(
        [executable, "-f", str(PROJECT_ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, check=False, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rendered: dict[str, Any] = yaml.safe_load(done.stdout)
    return rendered


def test_every_part_of_the_platform_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == EVERYTHING
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")


def test_the_five_services_run_from_the_one_image_read_only(compose: dict[str, Any]) -> None:
    for service in [*SERVICE_NAMES, "setup"]:
        spec = compose["services"][service]
        assert spec["image"] == "kgo:latest" and spec["build"]["dockerfile"] == "Dockerfile"
        assert spec["read_only"] is True and "/tmp" in spec["tmpfs"]
    for service in SERVICE_NAMES:
        assert compose["services"][service]["command"] == ["serve", service]


def test_each_service_publishes_the_port_its_settings_listen_on(compose: dict[str, Any]) -> None:
    for service, port in SERVICE_PORTS.items():
        spec = compose["services"][service]
        assert spec["ports"] == [f"127.0.0.1:{port}:{port}/tcp"]
        env = spec["environment"]
        assert env[f"{service.upper()}_HTTP_PORT"] == str(port)
        assert env[f"{service.upper()}_HTTP_HOST"] == "0.0.0.0"
    assert compose["services"]["postgres"]["ports"] == ["127.0.0.1:15432:5432/tcp"]
    assert compose["services"]["kafka"]["ports"] == ["127.0.0.1:19092:19092/tcp"]
    for host_networked in ("prometheus", "grafana"):
        assert compose["services"][host_networked]["network_mode"] == "host"


def _given(spec: dict[str, Any]) -> set[str]:
    return set(spec.get("environment", {})) | {s["target"] for s in spec.get("secrets", [])}


def test_every_variable_a_service_is_given_is_a_field_of_its_settings(
    compose: dict[str, Any],
) -> None:
    for service in SERVICE_NAMES:
        known = service_env(service)
        given = _given(compose["services"][service])
        assert given <= set(known), f"{service}: not settings fields: {given - set(known)}"
        required = {name for name, needed in known.items() if needed}
        assert required <= given, f"{service}: required but not set: {required - given}"
        prefix = service.upper()
        for field in ("DATABASE_URL", "KAFKA_BOOTSTRAP", "HTTP_HOST", "HTTP_PORT"):
            assert f"{prefix}_{field}" in given
        if service != "wallet":
            assert compose["services"][service]["environment"][f"{prefix}_WALLET_URL"] == (
                "http://wallet:8101"
            )
    setup = _given(compose["services"]["setup"])
    assert setup <= set(service_env("wallet")) | set(service_env("transit"))


def test_production_keys_come_from_secret_files(compose: dict[str, Any]) -> None:
    targets = {
        s: {x["target"] for x in compose["services"][s].get("secrets", [])} for s in SERVICE_NAMES
    }
    assert {"KGO_ACCESS_SIGNING_KEY", "WALLET_PII_KEY", "WALLET_BLIND_INDEX_KEY"} <= targets[
        "wallet"
    ]
    assert "TRANSIT_PASS_DIGEST_KEY" in targets["transit"]
    for service in SERVICE_NAMES:
        assert compose["services"][service]["environment"]["KGO_PROFILE"] == "production"
        assert f"{service.upper()}_DATABASE_URL" in targets[service]
        for name, value in compose["services"][service]["environment"].items():
            assert not re.search(r"(KEY|TOKEN|PASSWORD|DATABASE_URL)$", name), (name, value)
    # No secret value in the file itself: each is a file of deploy/compose/secrets/.
    for name, spec in compose["secrets"].items():
        assert Path(spec["file"]).parent == PROJECT_ROOT / "deploy" / "compose" / "secrets", name


def test_kgo_infra_compose_writes_exactly_the_secret_files_compose_reads(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    written = ensure_compose_secrets(tmp_path)
    named = {Path(spec["file"]).name for spec in compose["secrets"].values()}
    assert set(written) == named
    password = (tmp_path / "POSTGRES_PASSWORD").read_text().strip()
    for service in SERVICE_NAMES:
        url = (tmp_path / f"{service.upper()}_DATABASE_URL").read_text().strip()
        assert url == f"postgresql://kgo:{password}@postgres:5432/kgo_{service}"
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in tmp_path.iterdir())
    (tmp_path / "WALLET_DATABASE_URL").unlink()
    assert ensure_compose_secrets(tmp_path) == ["WALLET_DATABASE_URL"]  # the rest is kept
    assert password in (tmp_path / "WALLET_DATABASE_URL").read_text()


def test_start_order_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, spec in services.items():
        if name not in ONE_SHOTS:
            assert spec["healthcheck"]["test"], name
    for service in SERVICE_NAMES:
        needs = services[service]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["kafka-topics"]["condition"] == "service_completed_successfully"
        if service != "wallet":
            assert needs["wallet"]["condition"] == "service_healthy"
        assert services[service]["healthcheck"]["test"] == [
            "CMD", "python", "-m", "kgo_cli.status_cmd", "--service", service,
        ]  # fmt: skip
    assert services["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["setup"]["command"] == ["prepare"]
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_the_topics_compose_creates_are_the_codes_topics_kept_forever(
    compose: dict[str, Any],
) -> None:
    spec = compose["services"]["kafka-topics"]
    assert tuple(spec["environment"]["KGO_TOPICS"].split()) == ALL_TOPICS
    assert spec["environment"]["KGO_TOPIC_PARTITIONS"] == str(InfraSettings().topic_partitions)
    script = " ".join(spec["command"])
    assert "retention.ms=-1" in script and "cleanup.policy=delete" in script


def test_postgres_gets_one_database_per_service() -> None:
    sql = (PROJECT_ROOT / "deploy" / "compose" / "postgres-init.sql").read_text()
    created = re.findall(r"CREATE DATABASE (\w+);", sql)
    assert created == [InfraSettings().database_name(s) for s in SERVICE_NAMES]


def test_prometheus_and_grafana_read_the_repositorys_configuration(
    compose: dict[str, Any],
) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = {v.split(":")[1]: Path(v.split(":")[0]) for v in prometheus["volumes"]}
    assert mounts["/etc/kgo/prometheus"] == PROJECT_ROOT / "deploy" / "prometheus"
    assert "--config.file=/etc/kgo/prometheus/prometheus.yml" in prometheus["command"]
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: Path(v.split(":")[0]) for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == PROJECT_ROOT / "deploy/grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == PROJECT_ROOT / "deploy/grafana/dashboards"
    assert (PROJECT_ROOT / "deploy/grafana/provisioning/datasources").is_dir()


def test_the_dockerfile_is_multi_stage_locked_and_non_root() -> None:
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "uv sync --frozen --no-dev" in text and "COPY --from=build" in runtime
    user = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "**" and "!deploy/docker/entrypoint.sh" in ignored


def test_the_entrypoint_exports_secret_files_as_variables(tmp_path: Path) -> None:
    secrets, bin_dir = tmp_path / "secrets", tmp_path / "bin"
    secrets.mkdir()
    bin_dir.mkdir()
    (secrets / "WALLET_PII_KEY").write_text("from-a-file\n")
    (secrets / "WALLET_LOG_LEVEL").write_text("DEBUG\n")
    (secrets / "not-a-name").write_text("ignored\n")
    fake = bin_dir / "kgo"
    fake.write_text('#!/bin/sh\necho "args=$*"\nenv | grep -E "^WALLET_" | sort\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KGO_SECRETS_DIR": str(secrets),
        "WALLET_LOG_LEVEL": "INFO",  # set already: the file does not override it
    }
    done = subprocess.run(
        [str(PROJECT_ROOT / "deploy/docker/entrypoint.sh"), "serve", "wallet"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.splitlines() == [
        "args=serve wallet", "WALLET_LOG_LEVEL=INFO", "WALLET_PII_KEY=from-a-file",
    ]  # fmt: skip


def test_settings_env_names_follow_the_prefix() -> None:
    assert env_names(InfraSettings)["KGO_TOPIC_PARTITIONS"] is False
    yaml.safe_dump({})  # the dependency the tests use is installed


def _datasource_uids(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and isinstance(source.get("uid"), str):
            found.add(source["uid"])
        for value in node.values():
            found |= _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _datasource_uids(value)
    return found


def test_dashboards_use_the_provisioned_data_source() -> None:
    provisioned = yaml.safe_load(
        (PROJECT_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://127.0.0.1:9090"
    providers = yaml.safe_load(
        (PROJECT_ROOT / "deploy/grafana/provisioning/dashboards/kgo.yml").read_text()
    )["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    for path in sorted((PROJECT_ROOT / "deploy/grafana/dashboards").glob("*.json")):
        uids = _datasource_uids(json.loads(path.read_text()))
        # A fixed uid must be the provisioned one; a template variable (${...}) is fine.
        fixed = {uid for uid in uids if not uid.startswith("$")}
        assert fixed <= {source["uid"]}, f"{path.name} names data sources {fixed}"
