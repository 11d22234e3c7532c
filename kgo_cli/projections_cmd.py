"""`kgo replay`: rebuild the projections' read models from the topics."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from kgo_contracts.base import BANGKOK


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=BANGKOK)
    if len(value) == 10:  # a bare date: through the end of that Bangkok day
        at = at.replace(hour=23, minute=59, second=59, microsecond=999_999)
    return at


def replay(
    model: str = typer.Argument(
        "all",
        help="A read model (ledger, daily_totals, missions, redemptions, ridership, "
        "active_residents, fairness) or 'all'.",
    ),
    since: str | None = typer.Option(
        None,
        "--from",
        help="Count only events from this business time (ISO; Bangkok if no offset).",
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help="Rebuild the city as of this moment, served beside the live one "
        "(read-only, ?snapshot=<name>); a bare date means the end of that Bangkok day.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="The snapshot's name (default: from --until, e.g. 2022_08_31_2359)."
    ),
) -> None:
    """Rebuild read models into a fresh schema; swap them in atomically once caught up (or,
    with --until, keep them as a past city). Shows progress and events per second."""
    from services.projections.adapters.tables import model_names
    from services.projections.entrypoints.replay import Replay
    from services.projections.settings import ProjectionsSettings

    models = None if model == "all" else [model]
    if models is not None and model not in model_names():
        raise typer.BadParameter(f"unknown read model {model!r}; one of {model_names()}")
    with Progress(
        TextColumn("[bold]replay[/bold] {task.fields[what]}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} events"),
        TextColumn("{task.fields[rate]:,.0f} events/s"),
        TimeRemainingColumn(),
    ) as bar:
        # A total from the start: the columns format it before the first progress report.
        task = bar.add_task("replay", total=0, what=model, rate=0.0)

        def progress(done: int, total: int, rate: float) -> None:
            bar.update(task, completed=done, total=total, rate=rate)

        try:
            job = Replay(
                ProjectionsSettings(),
                models,
                since=_time(since),
                until=_time(until),
                snapshot=name,
                progress=progress,
            )
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
        report = asyncio.run(job.run())
    where = f"snapshot {report.snapshot!r}" if report.snapshot else "the live read models"
    typer.echo(
        f"{report.events:,} events in {report.seconds:.1f} s ({report.rate:,.0f}/s) into {where}"
        f" (schema {report.schema}); {report.skipped} undecodable records skipped"
    )
