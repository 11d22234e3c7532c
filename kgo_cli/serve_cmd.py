"""`kgo serve <service>`: run one service's HTTP app, relay and consumers in this process."""

from __future__ import annotations

import importlib
import inspect
import signal

import typer
import uvicorn

from kgo_runtime.settings import SERVICE_NAMES


def serve(
    service: str = typer.Argument(..., help="wallet, missions, merchant, transit or projections"),
) -> None:
    if service not in SERVICE_NAMES:
        typer.echo(f"unknown service {service!r}; one of: {', '.join(SERVICE_NAMES)}", err=True)
        raise typer.Exit(2)
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
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,  # kgo_runtime.logging configures the root logger in the lifespan
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (the lifespan stops the components and
    # flushes the producers), then re-raises the signal under the handlers it found. Let that
    # be a no-op, so a requested stop exits 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    if not server.started:
        raise typer.Exit(1)
