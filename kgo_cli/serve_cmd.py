"""`kgo serve <service>`: run one service's HTTP app, relay and consumers in this process.

With ``<SERVICE>_HTTP_WORKERS=N`` (N > 1) or ``<SERVICE>_BACKGROUND_PROCESS=true`` this
process only supervises: it starts the service's processes (``kgo serve <service>`` again,
each told its role in ``KGO_PROCESS_ROLE``, kgo_runtime.roles) and restarts one that exits.
The N HTTP processes all bind the port with SO_REUSEPORT, so the kernel spreads connections
over them. The background components run either in one of them at a time
(kgo_runtime.leadership) or, with ``<SERVICE>_BACKGROUND_PROCESS``, in one more process that
serves no API, only its ``/metrics``, ``/healthz`` and ``/readyz`` on a port of its own
(``<SERVICE>_BACKGROUND_METRICS_PORT``). SIGTERM or SIGINT stops every child gracefully, then
this process; a child gets SIGTERM if this process dies.
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
from pydantic import TypeAdapter, ValidationError

from kgo_runtime.roles import ROLE_ENV, Role, operations_app, process_role
from kgo_runtime.settings import SERVICE_NAMES


def serve(
    service: str = typer.Argument(..., help="wallet, missions, merchant, transit or projections"),
) -> None:
    if service not in SERVICE_NAMES:
        typer.echo(f"unknown service {service!r}; one of: {', '.join(SERVICE_NAMES)}", err=True)
        raise typer.Exit(2)
    try:
        role = process_role()
    except RuntimeError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    children = _children(service)
    if role is Role.ALL and children:
        raise typer.Exit(_supervise(service, children))
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
    port = settings.http_port
    if not role.serves_api:  # the background process: its metrics and probes, on a port apart
        app, port = operations_app(app), settings.background_metrics_port
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=port,
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
    # The HTTP processes of a supervised group share the port; the background process is
    # alone on its own (a second one there would answer half the scrapes).
    shared = role in (Role.WORKER, Role.API)
    sockets = [_reuse_port_socket(settings.http_host, port)] if shared else None
    server.run(sockets=sockets)
    if not server.started:
        raise typer.Exit(1)


def _children(service: str) -> list[Role]:
    """The roles of the processes to supervise, none when this process serves alone: from
    ``<SERVICE>_HTTP_WORKERS`` and ``<SERVICE>_BACKGROUND_PROCESS`` (ServiceSettings), read
    before the app is built: the supervising process builds none."""
    workers = _http_workers(service)
    if _background_process(service):
        return [Role.API] * workers + [Role.BACKGROUND]
    return [Role.WORKER] * workers if workers > 1 else []


def _http_workers(service: str) -> int:
    value = os.environ.get(f"{service.upper()}_HTTP_WORKERS", "1")
    try:
        return max(1, int(value))
    except ValueError:
        typer.echo(f"{service.upper()}_HTTP_WORKERS must be a whole number, not {value!r}")
        raise typer.Exit(2) from None


def _background_process(service: str) -> bool:
    """The setting as pydantic reads a bool (true/false, 1/0, yes/no, on/off)."""
    name = f"{service.upper()}_BACKGROUND_PROCESS"
    value = os.environ.get(name, "").strip() or "false"
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        typer.echo(f"{name} must be true or false, not {value!r}", err=True)
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


def _supervise(service: str, roles: list[Role]) -> int:
    """Run one child process per role until SIGTERM/SIGINT; restart any that exits."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    command = [sys.executable, "-m", "kgo_cli.main", "serve", service]

    def start(role: Role) -> subprocess.Popen[bytes]:
        env = {**os.environ, ROLE_ENV: role.value}
        return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)

    running = [start(role) for role in roles]
    while not stopping:
        time.sleep(0.5)
        for i, process in enumerate(running):
            if process.poll() is not None and not stopping:
                typer.echo(f"{service} {roles[i]} process {process.pid} exited "
                           f"({process.returncode}); restarting", err=True)  # fmt: skip
                running[i] = start(roles[i])
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
