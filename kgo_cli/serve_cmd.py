"""`kgo serve <service>`: run one service's HTTP app, relay and consumers in this process.

With ``<SERVICE>_HTTP_WORKERS=N`` (N > 1) this process only supervises: it starts N worker
processes (``kgo serve <service>`` again, each told it is a worker), which all bind the port
with SO_REUSEPORT so the kernel spreads connections over them, and restarts one that exits.
The background components run in one worker at a time (kgo_runtime.leadership). SIGTERM or
SIGINT stops every worker gracefully, then this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time

import typer
import uvicorn

from kgo_runtime.settings import SERVICE_NAMES


def serve(
    service: str = typer.Argument(..., help="wallet, missions, merchant, transit or projections"),
) -> None:
    if service not in SERVICE_NAMES:
        typer.echo(f"unknown service {service!r}; one of: {', '.join(SERVICE_NAMES)}", err=True)
        raise typer.Exit(2)
    workers = _http_workers(service)
    if workers > 1 and os.environ.get(_WORKER_ENV) != "1":
        raise typer.Exit(_supervise_workers(service, workers))
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    from kgo_runtime.clock import SystemClock, business_clock

    try:
        clock = business_clock()
    except RuntimeError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    if "clock" in inspect.signature(bootstrap.create_app).parameters:
        app = bootstrap.create_app(clock=clock)
    else:
        if not isinstance(clock, SystemClock):
            typer.echo(f"{service} takes no clock yet: it runs on the system time", err=True)
        app = bootstrap.create_app()
    settings = app.state.settings
    worker = os.environ.get(_WORKER_ENV) == "1"
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,  # kgo_runtime.logging configures the root logger in the lifespan
        access_log=False,
        timeout_graceful_shutdown=10,
        # Longer than a client's own idle expiry (httpx: 5 s, uvicorn's default too): the
        # client drops an idle connection first, so it never reuses one the server is closing
        # (a request lost to a reset connection: seen from a till's pool under load).
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (the lifespan stops the components and
    # flushes the producers), then re-raises the signal under the handlers it found. Let that
    # be a no-op, so a requested stop exits 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    sockets = [_reuse_port_socket(settings.http_host, settings.http_port)] if worker else None
    server.run(sockets=sockets)
    if not server.started:
        raise typer.Exit(1)


#: Set in the environment of the workers `kgo serve` starts (they serve; they do not fork).
_WORKER_ENV = "KGO_HTTP_WORKER"


def _http_workers(service: str) -> int:
    """``<SERVICE>_HTTP_WORKERS`` (ServiceSettings.http_workers), read before the app is
    built: the supervising process builds none."""
    value = os.environ.get(f"{service.upper()}_HTTP_WORKERS", "1")
    try:
        return max(1, int(value))
    except ValueError:
        typer.echo(f"{service.upper()}_HTTP_WORKERS must be a whole number, not {value!r}")
        raise typer.Exit(2) from None


def _die_with_parent() -> None:
    """In a worker, before exec: SIGTERM when the supervisor dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other workers may bind too (the kernel balances between them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _supervise_workers(service: str, workers: int) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT; restart any that exits."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    env = {**os.environ, _WORKER_ENV: "1"}
    command = [sys.executable, "-m", "kgo_cli.main", "serve", service]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)

    running = [start() for _ in range(workers)]
    while not stopping:
        time.sleep(0.5)
        for i, process in enumerate(running):
            if process.poll() is not None and not stopping:
                typer.echo(f"{service} worker {process.pid} exited ({process.returncode}); "
                           "restarting", err=True)  # fmt: skip
                running[i] = start()
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    failed = 0
    for process in running:
        try:
            failed |= process.wait(30) not in (0, -signal.SIGTERM)
        except subprocess.TimeoutExpired:
            process.kill()
            failed = 1
    return failed
