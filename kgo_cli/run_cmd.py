"""`kgo run`: the whole platform in the foreground — the five services as child processes,
each `kgo serve <name>` with its log in $KGO_HOME/logs/. Waits until every service is ready,
prepares the treasury once (an administrator token, the genesis mint), prints where
everything is, and on Ctrl-C or SIGTERM stops the services cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from kgo_runtime.settings import SERVICE_NAMES, SERVICE_PORTS, InfraSettings


def _spawn(service: str, logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{service}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "kgo_cli.main", "serve", service],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(
    services: list[str], procs: dict[str, subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = set(services)
    while pending and time.monotonic() < deadline:
        for service in sorted(pending):
            if procs[service].poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {procs[service].returncode}; see its log"
                )
            try:
                ready = httpx.get(f"http://127.0.0.1:{SERVICE_PORTS[service]}/readyz", timeout=2)
            except httpx.HTTPError:
                continue
            if ready.status_code == 200:
                pending.discard(service)
                typer.echo(f"  {service:<12} ready on http://127.0.0.1:{SERVICE_PORTS[service]}")
        time.sleep(0.3)
    if pending:
        raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(sorted(pending))}")


def _seed_bus_network() -> None:
    """Khon Kaen's city bus and the 1-baht campaign (`kgo transit seed`; skips what exists)."""
    done = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "transit", "seed"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = (done.stdout or done.stderr).strip().splitlines()[-1:] or ["?"]
    typer.echo(f"  bus network   {line[0]}")


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
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


def run(
    services: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Run only these [default: all].")
    ] = None,
    prepare: bool = typer.Option(True, help="Create the admin token and mint the supply once."),
    timeout: float = typer.Option(90.0, help="Seconds to wait for every service to be ready."),
) -> None:
    services = services or list(SERVICE_NAMES)
    unknown = sorted(set(services) - set(SERVICE_NAMES))
    if unknown:
        typer.echo(f"unknown service(s): {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    logs = InfraSettings().logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    procs = {service: _spawn(service, logs) for service in services}
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        typer.echo(f"starting {', '.join(services)} (logs in {logs})")
        _wait_ready(services, procs, timeout)
        if prepare and "wallet" in services:
            from kgo_cli.platform_setup import prepare_treasury

            for line in asyncio.run(prepare_treasury()):
                typer.echo(line)
        if prepare and "transit" in services:
            _seed_bus_network()
        typer.echo(f"platform up in {time.monotonic() - started:.1f} s; Ctrl-C stops it")
        while not stop_requested:
            for service, proc in procs.items():
                if proc.poll() is not None:
                    typer.echo(f"{service} exited with {proc.returncode}; stopping", err=True)
                    stop_requested = True
            time.sleep(0.5)
    except RuntimeError as error:
        typer.echo(str(error), err=True)
        _stop(procs)
        raise typer.Exit(1) from None
    _stop(procs)
    typer.echo("platform stopped")
