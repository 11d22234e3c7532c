"""`kgo run`: the whole platform in the foreground — the five services as child processes,
each `kgo serve <name>` with its log in $KGO_HOME/logs/, supervised (kgo_cli/supervision.py):
a service that crashes is started again after a capped exponential backoff, the restart is
logged here and in its log and counted (`kgo status`, $KGO_HOME/run/status.json, and
``kgo_supervisor_restarts_total`` on the supervisor's own /metrics port), and the other
services keep running. Waits until every service is ready, prepares the treasury once (an
administrator token, the genesis mint), prints where everything is, and on Ctrl-C or SIGTERM
stops the services cleanly."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from prometheus_client import start_http_server

from kgo_cli.status_cmd import service_url, status_file
from kgo_cli.supervision import Backoff, Supervisor
from kgo_runtime.settings import SERVICE_NAMES, InfraSettings


def _spawn(service: str, logs: Path) -> subprocess.Popen[bytes]:
    with (logs / f"{service}.log").open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"--- {stamp} kgo run starts {service}\n".encode())
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "kgo_cli.main", "serve", service],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _await_ready(urls: dict[str, str], timeout: float, between: Callable[[], None]) -> set[str]:
    """Poll /readyz until every service answers 200 or ``timeout`` passes; ``between`` runs
    before each round (and may raise). Returns the services still not ready."""
    deadline = time.monotonic() + timeout
    pending = set(urls)
    while pending and time.monotonic() < deadline:
        between()
        for service in sorted(pending):
            try:
                ready = httpx.get(f"{urls[service]}/readyz", timeout=2)
            except httpx.HTTPError:
                continue
            if ready.status_code == 200:
                pending.discard(service)
                typer.echo(f"  {service:<12} ready on {urls[service]}")
        time.sleep(0.3)
    return pending


def _wait_supervised(urls: dict[str, str], supervisor: Supervisor, timeout: float) -> None:
    """Until every service is ready; a crash meanwhile is restarted, not fatal."""
    pending = _await_ready(urls, timeout, supervisor.poll)
    if pending:
        restarted = [f"{s} restarted {supervisor.children[s].restarts}x" for s in sorted(pending)]
        raise RuntimeError(
            f"not ready after {timeout:.0f} s: {', '.join(restarted)}; see their logs"
        )


def _wait_ready(
    services: list[str], procs: dict[str, subprocess.Popen[bytes]], timeout: float
) -> None:
    """Unsupervised (`kgo demo`, bench): a service that exits while starting is fatal."""

    def none_exited() -> None:
        for service in services:
            if procs[service].poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {procs[service].returncode}; see its log"
                )

    pending = _await_ready({s: service_url(s) for s in services}, timeout, none_exited)
    if pending:
        raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(sorted(pending))}")


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM the unsupervised processes of `kgo demo` and bench; SIGKILL after 20 s."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for service, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            typer.echo(f"{service} did not stop in time; killing it", err=True)
            os.killpg(proc.pid, signal.SIGKILL)


def _seed_bus_network() -> None:
    """Khon Kaen's city bus and the 1-baht campaign (`kgo transit seed`; skips what exists)."""
    done = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "transit", "seed"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = (done.stdout or done.stderr).strip().splitlines()[-1:] or ["?"]
    typer.echo(f"  bus network   {line[0]}")


def _prepare(services: list[str]) -> None:
    if "wallet" in services:
        from kgo_cli.platform_setup import prepare_treasury

        for line in asyncio.run(prepare_treasury()):
            typer.echo(line)
    if "transit" in services:
        _seed_bus_network()


def prepare() -> None:
    """The one-time preparation `kgo run` does, on a platform started otherwise (compose,
    Kubernetes): the admin token, the genesis mint, the budgets, each service's wallet
    token, the bus network. Every step is idempotent."""
    _prepare(["wallet", "transit"])


def run(
    services: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Run only these [default: all].")
    ] = None,
    prepare: bool = typer.Option(True, help="Create the admin token and mint the supply once."),
    timeout: float = typer.Option(90.0, help="Seconds to wait for every service to be ready."),
    metrics_port: Annotated[
        int,
        typer.Option(
            envvar="KGO_RUN_METRICS_PORT",
            help="Port of the supervisor's /metrics (restarts per service); 0: none.",
        ),
    ] = 8100,
    backoff_cap: Annotated[
        float, typer.Option(help="Longest wait, in seconds, before restarting a crashed service.")
    ] = 30.0,
) -> None:
    services = services or list(SERVICE_NAMES)
    unknown = sorted(set(services) - set(SERVICE_NAMES))
    if unknown:
        typer.echo(f"unknown service(s): {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    logs = InfraSettings().logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    urls = {service: service_url(service) for service in services}
    supervisor = Supervisor(
        {service: functools.partial(_spawn, service, logs) for service in services},
        status_file=status_file(),
        backoff=Backoff(cap=backoff_cap),
        say=lambda line: typer.echo(line, err=True),
        extra={s: {"url": urls[s], "log": str(logs / f"{s}.log")} for s in services},
    )
    if metrics_port:
        try:
            start_http_server(metrics_port, addr="127.0.0.1", registry=supervisor.registry)
        except OSError as error:
            typer.echo(f"supervisor metrics not served on {metrics_port}: {error}", err=True)
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        typer.echo(f"starting {', '.join(services)} (logs in {logs})")
        supervisor.start_all()
        _wait_supervised(urls, supervisor, timeout)
        if prepare:
            _prepare(services)
        typer.echo(f"platform up in {time.monotonic() - started:.1f} s; Ctrl-C stops it")
        if metrics_port:
            typer.echo(f"  supervisor    http://127.0.0.1:{metrics_port}/metrics; `kgo status`")
        while not stop_requested:
            supervisor.poll()
            time.sleep(0.5)
    except RuntimeError as error:
        typer.echo(str(error), err=True)
        supervisor.stop_all()
        raise typer.Exit(1) from None
    supervisor.stop_all()
    typer.echo("platform stopped")
