"""Apache Kafka's jars, resolved from Maven Central once into the cache folder (outside git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kgo_cli.infra.errors import InfraError
from kgo_cli.infra.prereqs import require_maven
from kgo_runtime.settings import InfraSettings

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
COMPLETE_MARKER = ".complete"
_LOG4J_ARTIFACTS = ("log4j-api", "log4j-core", "log4j-slf4j-impl")


def dist_dir(settings: InfraSettings) -> Path:
    name = f"kafka_2.13-{settings.kafka_version}-log4j-{settings.log4j_version}"
    return settings.cache_dir.absolute() / name


def libs_dir(settings: InfraSettings) -> Path:
    return dist_dir(settings) / "libs"


def is_resolved(settings: InfraSettings) -> bool:
    return (dist_dir(settings) / COMPLETE_MARKER).exists()


def render_pom(kafka_version: str, log4j_version: str) -> str:
    """A throwaway pom whose only purpose is to list Kafka's runtime closure."""
    deps = [("org.apache.kafka", "kafka_2.13", kafka_version)]
    deps += [("org.apache.logging.log4j", artifact, log4j_version) for artifact in _LOG4J_ARTIFACTS]
    dep_xml = "\n".join(
        "    <dependency>"
        f"<groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>"
        for group, artifact, version in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>th.kgo</groupId>
  <artifactId>kgo-kafka-runtime</artifactId>
  <version>{kafka_version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dep_xml}
  </dependencies>
</project>
"""


def ensure_resolved(settings: InfraSettings) -> bool:
    """Download Kafka into the cache unless a complete copy is there; True if it downloaded."""
    if is_resolved(settings):
        return False
    mvn = require_maven()
    target = dist_dir(settings)
    shutil.rmtree(target, ignore_errors=True)  # a half download is redone from scratch
    target.mkdir(parents=True)
    (target / "pom.xml").write_text(render_pom(settings.kafka_version, settings.log4j_version))
    argv = [
        mvn, "-B", "-q", f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={libs_dir(settings)}",
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=target, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not any(libs_dir(settings).glob("kafka_2.13-*.jar")):
        (target / "mvn.log").write_text(proc.stdout + proc.stderr)
        raise InfraError(
            f"Maven could not download Kafka {settings.kafka_version} from Maven Central "
            f"(is the version right and the network up?): see {target / 'mvn.log'}."
        )
    (target / COMPLETE_MARKER).write_text(settings.kafka_version + "\n")
    return True
