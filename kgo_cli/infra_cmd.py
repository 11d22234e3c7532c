"""`kgo infra` commands: the real Kafka broker and PostgreSQL cluster on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kgo_cli.infra import InfraError, ensure_down, ensure_up, prereqs, status
from kgo_cli.infra.processes import tail_text
from kgo_runtime.settings import InfraSettings

app = typer.Typer(no_args_is_help=True)


class Component(StrEnum):
    kafka = "kafka"
    postgres = "postgres"


def _fail(error: InfraError) -> typer.Exit:
    typer.secho(str(error), err=True, fg=typer.colors.RED)
    return typer.Exit(1)


@app.command()
def up() -> None:
    """Start Kafka and PostgreSQL if needed; ensure topics and databases exist."""
    started = time.monotonic()
    try:
        ensure_up(InfraSettings(), say=typer.echo)
    except InfraError as error:
        raise _fail(error) from None
    typer.echo(f"infra up in {time.monotonic() - started:.1f} s")


@app.command()
def browser() -> None:
    """Make sure the Chromium the browser tests drive is installed (apt-get, as root)."""
    try:
        path = prereqs.ensure_chromium()
    except InfraError as error:
        raise _fail(error) from None
    typer.echo(f"chromium: {path}")


@app.command()
def compose(
    config: Annotated[bool, typer.Option(help="Also run `docker-compose config -q`.")] = True,
) -> None:
    """Debian's docker-compose (apt-get, as root, when missing) and the secret files
    docker-compose.yml reads (deploy/compose/secrets/, written once); then validate it."""
    from kgo_cli.infra.tools import ensure_compose_secrets
    from kgo_runtime.settings import PROJECT_ROOT

    try:
        executable = prereqs.ensure_docker_compose()
        written = ensure_compose_secrets(PROJECT_ROOT / "deploy" / "compose" / "secrets")
    except InfraError as error:
        raise _fail(error) from None
    typer.echo(f"docker-compose: {executable}; secrets written: {', '.join(written) or 'none'}")
    if config:
        done = subprocess.run(
            [str(executable), "-f", str(PROJECT_ROOT / "docker-compose.yml"), "config", "-q"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            typer.secho(done.stderr.strip(), err=True, fg=typer.colors.RED)
            raise typer.Exit(1)
        typer.echo("docker-compose.yml: valid")


@app.command()
def kustomize() -> None:
    """The pinned Kustomize for the deploy/k8s tests, built with `go install` into the KGO
    cache when missing (about a minute, once)."""
    from kgo_cli.infra.tools import ensure_kustomize

    try:
        path = ensure_kustomize(InfraSettings())
    except InfraError as error:
        raise _fail(error) from None
    typer.echo(f"kustomize: {path}")


@app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete their data folders.")] = False,
) -> None:
    """Stop the Kafka and PostgreSQL that `kgo infra up` started (data is kept)."""
    started = time.monotonic()
    try:
        ensure_down(InfraSettings(), say=typer.echo, purge=purge)
    except InfraError as error:
        raise _fail(error) from None
    typer.echo(f"infra down in {time.monotonic() - started:.1f} s")


@app.command("status")
def status_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what runs where; exits non-zero when something is down."""
    current = status(InfraSettings())
    typer.echo(json.dumps(current.as_dict(), indent=2) if as_json else current.render())
    if not current.ok:
        raise typer.Exit(1)


@app.command()
def logs(
    component: Annotated[Component | None, typer.Argument(help="Only this log.")] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="Lines from the end.")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing.")] = False,
) -> None:
    """Show the files in $KGO_HOME/logs."""
    logs_dir = InfraSettings().logs_dir
    files = log_files(logs_dir, component.value if component else None)
    if not files:
        typer.secho(f"No log files in {logs_dir} yet: run `kgo infra up`.", err=True)
        raise typer.Exit(1)
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", *map(str, files)])
    for path in files:
        if len(files) > 1:
            typer.echo(f"==> {path} <==")
        typer.echo(tail_text(path, lines))


def log_files(logs_dir: Path, component: str | None) -> list[Path]:
    if component is not None:
        candidate = logs_dir / f"{component}.log"
        return [candidate] if candidate.exists() else []
    return sorted(p for p in logs_dir.glob("*") if p.is_file()) if logs_dir.is_dir() else []
