"""Pid files only ever point at our own processes; logs and status read from KGO_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgo_cli.infra import InfraError, processes, status, topics
from kgo_cli.infra.lifecycle import run_sync
from kgo_cli.infra_cmd import app, log_files
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.unit


def test_a_pid_file_counts_only_while_the_process_runs_with_our_marker(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "kgo-marker"])
    try:
        pid_file.write_text(f"{proc.pid}\nmore lines like postmaster.pid\n")
        assert processes.running_pid(pid_file, "kgo-marker") == proc.pid
        assert processes.running_pid(pid_file, "someone-else") is None
        processes.terminate(proc.pid, grace_s=5)
        assert processes.running_pid(pid_file, "kgo-marker") is None
    finally:
        proc.kill()
        proc.wait()


def test_a_stale_or_garbled_pid_file_means_not_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    assert processes.running_pid(pid_file, "x") is None
    pid_file.write_text("not a pid")
    assert processes.running_pid(pid_file, "x") is None


def test_a_detached_process_outlives_its_session_and_logs_to_a_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "out.log"
    pid = processes.spawn_detached([sys.executable, "-c", "print('hello')"], log, tmp_path)
    assert os.getsid(pid) == pid or not processes.is_alive(pid)
    assert processes.wait_gone(pid, 10)
    assert log.read_text().strip() == "hello"


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(10_000)))
    assert processes.tail_text(path, 3) == "line 9997\nline 9998\nline 9999"
    assert processes.tail_text(tmp_path / "missing.log", 3) == ""


def test_status_of_an_instance_that_never_ran_is_down(tmp_path: Path) -> None:
    current = status(InfraSettings(home=tmp_path, kafka_port=1, pg_port=1))
    assert not current.ok
    assert [c.state for c in current.components] == ["down", "down"]
    assert "kafka: down" in current.render()


def test_logs_shows_the_files_of_the_logs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "kafka.log").write_text("k1\nk2\nk3\n")
    (logs / "postgres.log").write_text("p1\n")
    assert log_files(logs, "kafka") == [logs / "kafka.log"]
    monkeypatch.setenv("KGO_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["logs", "-n", "2"])
    assert result.exit_code == 0
    assert "k2\nk3" in result.output
    assert "k1" not in result.output
    assert "==> " in result.output and "p1" in result.output
    result = CliRunner().invoke(app, ["logs", "postgres"])
    assert result.output.strip() == "p1"


def test_logs_without_files_says_to_run_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGO_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["logs", "kafka"])
    assert result.exit_code == 1


async def test_waiting_for_kafka_stops_as_soon_as_the_broker_has_died() -> None:
    with pytest.raises(InfraError, match="Kafka exited while starting"):
        await topics.wait_ready("127.0.0.1:1", alive=lambda: False, timeout_s=30)


async def test_sync_helpers_also_work_inside_a_running_event_loop() -> None:
    async def answer() -> int:
        return 42

    assert run_sync(answer()) == 42


def test_a_free_port_is_drawn_below_the_ephemeral_range_and_can_be_bound() -> None:
    # Outgoing connections take their local ports from the ephemeral range: a server's
    # port drawn from it could be taken by any client while that server restarts.
    low = processes._ephemeral_low()
    ports = {processes.free_port() for _ in range(20)}
    assert all(10_000 <= port < low for port in ports)
    assert len(ports) > 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", processes.free_port()))
