"""`kgo schemas` commands: generate, check and release the published event contracts."""

from __future__ import annotations

import typer

from kgo_contracts import compat, generate

app = typer.Typer(no_args_is_help=True)


def _released_breaking() -> list[compat.BreakingChange]:
    released = compat.load_schemas(generate.SCHEMAS_ROOT / generate.RELEASED_DIR)
    return compat.breaking_changes(released, generate.event_schemas())


@app.command()
def gen() -> None:
    """Write schemas/jsonschema/*.json and schemas/asyncapi.json from the event models."""
    paths = generate.write(generate.SCHEMAS_ROOT, generate.artefacts(), generate.JSONSCHEMA_DIR)
    for path in paths:
        typer.echo(f"updated schemas/{path}")
    typer.echo(f"{len(paths)} file(s) updated" if paths else "artefacts already up to date")


@app.command()
def check() -> None:
    """Fail if the committed artefacts are stale or the schemas break a released one."""
    stale = generate.differences(
        generate.SCHEMAS_ROOT, generate.artefacts(), generate.JSONSCHEMA_DIR
    )
    breaking = _released_breaking()
    if stale:
        typer.echo("Stale artefacts (run `kgo schemas gen` and commit the result):", err=True)
        for path in stale:
            typer.echo(f"  schemas/{path}", err=True)
    if breaking:
        typer.echo(
            "Breaking changes against schemas/released (restore the field, or move the event "
            "to a new major version and release it):",
            err=True,
        )
        for change in breaking:
            typer.echo(f"  {change}", err=True)
    if stale or breaking:
        raise typer.Exit(1)
    unreleased = generate.differences(
        generate.SCHEMAS_ROOT, generate.release_snapshot(), generate.RELEASED_DIR
    )
    for path in unreleased:
        typer.echo(f"not yet released (compatible): schemas/{path}")
    typer.echo("artefacts up to date; no breaking change against the released schemas")


@app.command()
def release(
    accept_breaking: bool = typer.Option(
        False, "--accept-breaking", help="Release even though consumers of a released major break."
    ),
) -> None:
    """Copy today's event schemas to schemas/released/, the baseline of `kgo schemas check`."""
    breaking = _released_breaking()
    if breaking and not accept_breaking:
        for change in breaking:
            typer.echo(f"  {change}", err=True)
        typer.echo("Refusing to release breaking changes without --accept-breaking.", err=True)
        raise typer.Exit(1)
    paths = generate.write(
        generate.SCHEMAS_ROOT, generate.release_snapshot(), generate.RELEASED_DIR
    )
    for path in paths:
        typer.echo(f"released schemas/{path}")
    typer.echo(f"{len(paths)} file(s) released" if paths else "nothing new to release")
