"""A missing prerequisite or a taken port is one clear sentence, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgo_cli.infra import InfraError, PrereqError, kafka, postgres, prereqs
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_java_major_version_is_read_from_java_version_output(output: str, major: int) -> None:
    assert prereqs.java_major(output) == major


def _fake_java(folder: Path, version: str) -> None:
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2020-01-01' >&2\n")
    java.chmod(0o755)


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(PrereqError, match=r"Java 17 or newer .* openjdk-17-jre-headless"):
        prereqs.require_java()


def test_old_java_says_which_it_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(tmp_path, "11.0.2")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrereqError, match=r"is Java 11: install a newer one"):
        prereqs.require_java()


def test_postgres_missing_without_root_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrereqError, match=r"postgresql-15") as caught:
        prereqs.ensure_postgres_server(tmp_path)
    assert "\n" not in str(caught.value)


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_kafka_port_is_one_sentence(
    listener: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka, "require_java", lambda: "java")
    settings = InfraSettings(home=tmp_path, kafka_port=listener)
    with pytest.raises(InfraError, match=rf"Port {listener} .* KGO_KAFKA_PORT=<port>"):
        kafka.start(settings)
    assert not kafka.paths(settings).pid_file.exists()


def test_a_taken_postgres_port_is_one_sentence(listener: int, tmp_path: Path) -> None:
    settings = InfraSettings(home=tmp_path, pg_port=listener)
    with pytest.raises(InfraError, match=rf"Port {listener} .* KGO_PG_PORT=<port>"):
        postgres.preflight(settings)


def test_cli_reports_a_missing_java_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    _fake_java(tmp_path, "11.0.2")
    env = {**os.environ, "PATH": str(tmp_path), "KGO_HOME": str(tmp_path / "home")}
    env.update(KGO_KAFKA_PORT="0", KGO_KAFKA_CONTROLLER_PORT="0", KGO_PG_PORT="0")
    proc = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "infra", "up"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "Java 17 or newer" in proc.stderr


def test_postgres_is_installed_with_apt_retrying_after_an_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "pg" / "bin"
    calls = tmp_path / "calls"
    apt = tmp_path / "apt-get"
    apt.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> {calls}\n'
        f'if [ "$1" = install ] && grep -q update {calls}; then\n'
        f"  mkdir -p {bin_dir} && touch {bin_dir}/initdb; exit 0\n"
        "fi\n"
        '[ "$1" = update ]\n'
    )
    apt.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    prereqs.ensure_postgres_server(bin_dir)
    assert calls.read_text().split() == ["install", "update", "install"]
    assert (bin_dir / "initdb").exists()


def test_chromium_missing_without_root_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrereqError, match=r"`apt-get install -y chromium`\)\.$") as caught:
        prereqs.ensure_chromium(tmp_path / "chromium")
    assert "\n" not in str(caught.value)


def test_chromium_already_there_is_not_installed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = tmp_path / "chromium"
    chromium.touch()
    monkeypatch.setenv("KGO_CHROMIUM", str(chromium))
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get to call
    assert prereqs.ensure_chromium() == chromium
