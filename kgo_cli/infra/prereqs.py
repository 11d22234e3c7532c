"""Programs `kgo infra` needs; a missing one is reported in one sentence that says what to do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from kgo_cli.infra.errors import PrereqError

MIN_JAVA = 17
JAVA_HINT = "apt-get install -y openjdk-17-jre-headless"
MAVEN_HINT = "apt-get install -y maven"
POSTGRES_PACKAGE = "postgresql-15"
CHROMIUM_PACKAGE = "chromium"
CHROMIUM = Path("/usr/bin/chromium")
DOCKER_COMPOSE_PACKAGE = "docker-compose"
DOCKER_COMPOSE = Path("/usr/bin/docker-compose")


def java_major(version_output: str) -> int | None:
    """The major version in `java -version` output: '1.8.0_392' -> 8, '17.0.15' -> 17."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> str:
    """The `java` to run Kafka with: Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java", path=f"{java_home}/bin") if java_home else None
    java = java or shutil.which("java")
    if java is None:
        raise PrereqError(
            f"Java {MIN_JAVA} or newer is needed to run Kafka and `java` is not on PATH: "
            f"install it, e.g. `{JAVA_HINT}`."
        )
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = java_major(proc.stderr + proc.stdout)
    if major is None or major < MIN_JAVA:
        found = f"Java {major}" if major else "a Java whose version could not be read"
        raise PrereqError(
            f"Kafka needs Java {MIN_JAVA} or newer but `{java}` is {found}: "
            f"install a newer one, e.g. `{JAVA_HINT}`, and put it first on PATH."
        )
    return java


def require_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrereqError(
            "Maven (`mvn`) is needed once to download Kafka from Maven Central and it is not "
            f"on PATH: install it, e.g. `{MAVEN_HINT}`."
        )
    return mvn


def ensure_postgres_server(bin_dir: Path) -> None:
    """Install Debian's PostgreSQL 15 server when ``bin_dir`` has no `initdb`."""
    _ensure_package(
        POSTGRES_PACKAGE,
        bin_dir / "initdb",
        "PostgreSQL 15",
        "or point KGO_PG_BIN_DIR at its bin folder",
    )


def ensure_chromium(executable: Path | None = None) -> Path:
    """The Chromium the browser tests drive (``$KGO_CHROMIUM``, else Debian's, installed
    with apt-get when missing)."""
    executable = executable or Path(os.environ.get("KGO_CHROMIUM", CHROMIUM))
    _ensure_package(CHROMIUM_PACKAGE, executable, "Chromium (for the browser tests)")
    return executable


def ensure_docker_compose(executable: Path | None = None) -> Path:
    """Debian's docker-compose (1.29), whose `config` validates docker-compose.yml without a
    Docker engine; installed with apt-get when missing."""
    executable = executable or DOCKER_COMPOSE
    _ensure_package(
        DOCKER_COMPOSE_PACKAGE, executable, "docker-compose (to validate docker-compose.yml)"
    )
    return executable


def _ensure_package(package: str, installed: Path, what: str, alternative: str = "") -> None:
    """``apt-get install`` ``package`` (as root; after an update if the first try fails)
    unless ``installed`` exists; otherwise one sentence saying what to do."""
    if installed.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        how = "as root" if apt else "with your system's package manager"
        raise PrereqError(
            f"{what} is needed and {installed} is missing: install the "
            f"`{package}` package {how} (`apt-get install -y {package}`)"
            + (f" {alternative}." if alternative else ".")
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", package]
    if _quiet_run(install, env) != 0:
        _quiet_run([apt, "update", "-q"], env)
        if _quiet_run(install, env) != 0 or not installed.exists():
            raise PrereqError(
                f"Installing `{package}` with apt-get failed: run "
                f"`apt-get update && apt-get install -y {package}` to see why."
            )


def _quiet_run(argv: list[str], env: dict[str, str]) -> int:
    return subprocess.run(argv, env=env, capture_output=True, check=False).returncode
