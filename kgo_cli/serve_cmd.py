"""`kgo serve <service>`: run one service's HTTP app, relay and consumers in this process.

With ``<SERVICE>_HTTP_WORKERS=N`` (N > 1) or ``<SERVICE>_BACKGROUND_PROCESS=true`` this
process only supervises: it starts the service's processes (``kgo serve <service>`` again,
each told its role and index in ``KGO_PROCESS_ROLE`` and ``KGO_PROCESS_INDEX``,
kgo_runtime.roles) and restarts one that exits. The N HTTP processes all bind the port with
SO_REUSEPORT, so the kernel spreads connections over them. The background components run
either in one of them at a time (kgo_runtime.leadership) or, with
``<SERVICE>_BACKGROUND_PROCESS``, in one more process that serves no API. Each process of
the group also serves its own ``/metrics``, ``/healthz`` and ``/readyz`` on a port of its own
(kgo_runtime.roles.members), one scrape target per process (kgo_runtime.targets). SIGTERM or
SIGINT stops every child gracefully, then this process; a child gets SIGTERM if this process
dies.
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
from pydantic import ValidationError
from starlette.types import ASGIApp

from kgo_cli.status_cmd import settings_class
from kgo_runtime.collector import tune_for_serving
from kgo_runtime.roles import (
    INDEX_ENV,
    ROLE_ENV,
    Member,
    Role,
    members,
    operations_app,
    operations_only_on,
    process_role,
    this_member,
)
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
    if role is Role.ALL and (group := _children(service)):
        raise typer.Exit(_supervise(service, group))
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
    try:
        own = this_member(settings)
    except RuntimeError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    # Alone: the app on the HTTP port, as ever. The background process: its operations on
    # its port only. An HTTP process of a group: the app on the port it shares with the
    # others (SO_REUSEPORT) and its operations, alone, on its own port.
    served: ASGIApp = app
    sockets = None
    if not role.serves_api:
        served = operations_app(app)
    elif role is not Role.ALL:
        served = operations_only_on(app, own.port)
        sockets = [
            _socket(settings.http_host, settings.http_port, shared=True),
            _socket(settings.http_host, own.port, shared=False),
        ]
    config = uvicorn.Config(
        served,
        host=settings.http_host,
        port=own.port,
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
    # Fewer, shorter pauses for the garbage collector (kgo_runtime.collector).
    tune_for_serving()
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (the lifespan stops the components and
    # flushes the producers), then re-raises the signal under the handlers it found. Let that
    # be a no-op, so a requested stop exits 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=sockets)
    if not server.started:
        raise typer.Exit(1)


def _children(service: str) -> list[Member]:
    """The processes to supervise, none when this process serves alone: from
    ``<SERVICE>_HTTP_WORKERS`` and ``<SERVICE>_BACKGROUND_PROCESS`` (kgo_runtime.roles.members
    of the service's settings; the supervising process builds no app)."""
    try:
        settings = settings_class(service)()
    except ValidationError as error:
        typer.echo(f"{service} settings: {error}", err=True)
        raise typer.Exit(2) from None
    group = members(settings)
    return [] if [m.role for m in group] == [Role.ALL] else group


def _die_with_parent() -> None:
    """In a worker, before exec: SIGTERM when the supervisor dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """A listening socket; ``shared``: one that the group's other HTTP processes bind too (the
    kernel balances between them). A process's own operations port is never shared: a second
    process there would answer half its scrapes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _supervise(service: str, group: list[Member]) -> int:
    """Run one child process per member until SIGTERM/SIGINT; restart any that exits."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    command = [sys.executable, "-m", "kgo_cli.main", "serve", service]

    def start(member: Member) -> subprocess.Popen[bytes]:
        env = {**os.environ, ROLE_ENV: member.role.value, INDEX_ENV: str(member.index)}
        return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)

    running = [start(member) for member in group]
    while not stopping:
        time.sleep(0.5)
        for i, process in enumerate(running):
            if process.poll() is not None and not stopping:
                typer.echo(f"{service} {group[i].role} process {process.pid} exited "
                           f"({process.returncode}); restarting", err=True)  # fmt: skip
                running[i] = start(group[i])
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
