"""`kgo run`'s supervisor on tiny stand-in processes: a child killed with -9 comes back after
its backoff and is counted, the others keep their pid, a crash loop waits longer each time up
to the cap, and `kgo status` reads what the supervisor wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kgo_cli import status_cmd
from kgo_cli.supervision import Backoff, Supervisor, read_status

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def crasher() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(initial=1, factor=2, cap=10)
    assert [backoff.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_a_killed_child_comes_back_after_its_backoff_and_the_others_keep_running(
    tmp_path: Path,
) -> None:
    clock, said = FakeClock(), []
    status = tmp_path / "run" / "status.json"
    supervisor = Supervisor(
        {"wallet": sleeper, "missions": sleeper},
        status_file=status,
        backoff=Backoff(initial=2, cap=30),
        say=said.append,
        clock=clock,
        extra={"wallet": {"url": "http://127.0.0.1:1"}},
    )
    supervisor.start_all()
    try:
        wallet, missions = supervisor.children["wallet"], supervisor.children["missions"]
        missions_pid = missions.pid
        old = wallet.process
        assert old is not None
        os.kill(old.pid, signal.SIGKILL)
        old.wait()

        supervisor.poll()
        assert wallet.state == "backoff" and wallet.pid is None
        assert wallet.last_exit == -signal.SIGKILL
        assert "wallet killed by signal 9; restarting in 2.0 s" in said[-1]
        clock.now += 1.9
        supervisor.poll()
        assert wallet.state == "backoff", "not before its backoff is over"
        clock.now += 0.2
        supervisor.poll()

        assert wallet.state == "running" and wallet.pid not in (None, old.pid)
        assert wallet.restarts == 1 and "wallet restarted (restart 1)" in said[-1]
        assert missions.pid == missions_pid and missions.restarts == 0
        written = json.loads(status.read_text())
        assert written["services"]["wallet"]["restarts"] == 1
        assert written["services"]["wallet"]["pid"] == wallet.pid
        assert written["services"]["wallet"]["url"] == "http://127.0.0.1:1"
        assert written["services"]["missions"]["restarts"] == 0
        value = supervisor.registry.get_sample_value
        assert value("kgo_supervisor_restarts_total", {"service": "wallet"}) == 1
        assert value("kgo_supervisor_restarts_total", {"service": "missions"}) == 0
        assert value("kgo_supervisor_child_up", {"service": "wallet"}) == 1
        assert read_status(status) == written  # this process is the live supervisor
    finally:
        supervisor.stop_all(grace=5)
    assert all(c.state == "stopped" for c in supervisor.children.values())
    assert json.loads(status.read_text())["services"]["wallet"]["pid"] is None


def test_a_crash_loop_waits_longer_each_time_up_to_the_cap_and_a_stable_run_resets_it() -> None:
    clock = FakeClock()
    supervisor = Supervisor(
        {"transit": crasher},
        backoff=Backoff(initial=1, factor=2, cap=4, stable_seconds=60),
        say=lambda _: None,
        clock=clock,
    )
    supervisor.start_all()
    child = supervisor.children["transit"]
    delays = []
    for _ in range(5):
        assert child.process is not None
        child.process.wait()
        supervisor.poll()
        assert child.restart_at is not None
        delays.append(child.restart_at - clock.now)
        clock.now = child.restart_at
        supervisor.poll()
    assert delays == [1, 2, 4, 4, 4]
    assert child.restarts == 5

    assert child.process is not None
    child.process.wait()
    clock.now += 61  # it "ran" a minute before this crash
    supervisor.poll()
    assert child.restart_at == clock.now + 1
    supervisor.stop_all(grace=1)


def test_no_restart_once_stopping(tmp_path: Path) -> None:
    supervisor = Supervisor({"merchant": sleeper}, say=lambda _: None, backoff=Backoff(0, 1, 0))
    supervisor.start_all()
    supervisor.stop_all(grace=5)
    supervisor.poll()
    assert supervisor.children["merchant"].state == "stopped"
    assert supervisor.children["merchant"].restarts == 0


def test_a_status_file_of_a_dead_supervisor_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"supervisor_pid": gone.pid, "services": {}}))
    assert read_status(path) is None
    assert read_status(tmp_path / "missing.json") is None


def test_status_reads_relay_and_consumer_lag_from_the_exposition() -> None:
    exposition = "\n".join(
        [
            "# TYPE kgo_relay_lag gauge",
            'kgo_relay_lag{relay="wallet"} 7.0',
            "# TYPE kgo_consumer_lag gauge",
            'kgo_consumer_lag{consumer="c",topic="t",partition="0"} 2.0',
            'kgo_consumer_lag{consumer="c",topic="t",partition="1"} 3.0',
            "# TYPE kgo_http_requests_total counter",
            'kgo_http_requests_total{method="GET",route="/",status="200"} 9.0',
            "",
        ]
    )
    assert status_cmd.lags(exposition) == (7.0, 5.0)
    assert status_cmd.lags("# TYPE x gauge\nx 1\n") == (None, None)


def test_status_table_shows_every_column() -> None:
    rows = [
        status_cmd.ServiceStatus(
            "wallet", "http://127.0.0.1:8101", 42, "running", 2, "ready", 0, 3
        ),
        status_cmd.ServiceStatus("missions", "http://127.0.0.1:8102"),
    ]
    text = status_cmd.render({"supervisor_pid": 1, "written_at": "now"}, rows)
    header, wallet, missions = text.splitlines()[1:]
    assert header.split() == [
        "service", "pid", "state", "restarts", "ready", "relay", "lag", "consumer", "lag", "url",
    ]  # fmt: skip
    assert wallet.split() == ["wallet", "42", "running", "2", "ready", "0", "3", rows[0].url]
    assert missions.split()[:5] == ["missions", "-", "unsupervised", "-", "down"]


def test_status_probes_each_process_of_a_group_on_its_own_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared HTTP port answers from an API process, without the relay; the background
    process, on its own port, has the relay's and the consumer's lag."""
    group = [
        {"targets": ["127.0.0.1:8301"], "labels": {"role": "api", "process": "0"}},
        {"targets": ["127.0.0.1:8201"], "labels": {"role": "background", "process": "0"}},
    ]
    background = 'kgo_relay_lag{relay="wallet"} 4.0\nkgo_consumer_lag{consumer="c"} 2.0\n'
    pages = {
        "http://127.0.0.1:8101/readyz": "", "http://127.0.0.1:8101/metrics": "",
        "http://127.0.0.1:8301/readyz": "", "http://127.0.0.1:8301/metrics": "",
        "http://127.0.0.1:8201/readyz": "", "http://127.0.0.1:8201/metrics": background,
    }  # fmt: skip

    def get(url: str, timeout: float) -> httpx.Response:
        request = httpx.Request("GET", url)
        if url.endswith("/metrics/targets"):
            return httpx.Response(200, json=group, request=request)
        if url not in pages:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, text=pages[url], request=request)

    monkeypatch.setattr(status_cmd.httpx, "get", get)
    row = status_cmd.probe("wallet", "http://127.0.0.1:8101")
    assert (row.ready, row.relay_lag, row.consumer_lag, row.ok) == ("ready", 4.0, 2.0, True)
    assert [(p.role, p.url, p.relay_lag) for p in row.processes] == [
        ("api", "http://127.0.0.1:8301", None), ("background", "http://127.0.0.1:8201", 4.0)
    ]  # fmt: skip
    lines = status_cmd.render(None, [row]).splitlines()
    assert lines[4].split() == ["background", "0", "ready", "4", "2", "http://127.0.0.1:8201"]
    del pages["http://127.0.0.1:8201/readyz"]  # the background process down
    row = status_cmd.probe("wallet", "http://127.0.0.1:8101")
    assert row.processes[1].ready == "down" and not row.ok
    group.pop()
    group[0]["targets"] = ["127.0.0.1:8101"]  # a service alone lists itself: one line, as ever
    row = status_cmd.probe("wallet", "http://127.0.0.1:8101")
    assert row.processes == [] and row.ok


def test_every_service_has_a_settings_class_whose_port_status_probes() -> None:
    for service in ("wallet", "missions", "merchant", "transit", "projections"):
        cls = status_cmd.settings_class(service)
        assert cls.service_name == service
    assert status_cmd.service_url("wallet").startswith("http://127.0.0.1:")
