"""`kgo export` and `kgo report`: research exports of the whole history and the report built
from one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError

from kgo_contracts.base import BANGKOK
from kgo_runtime.clock import SystemClock

from ..settings import ResearchSettings
from .progress import RichProgress

export_app = typer.Typer(
    invoke_without_command=True,
    help="Export the whole history (Parquet, residents pseudonymised) with its data "
    "dictionary; every export is recorded in the audit log.",
)


def parse_until(text: str | None) -> datetime | None:
    """An ISO date or time; without an offset it is Asia/Bangkok. A bare date means the end
    of that Bangkok day."""
    if text is None:
        return None
    parsed = datetime.fromisoformat(text)
    if len(text) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59, microsecond=999_999)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BANGKOK)


@export_app.callback()
def export(
    ctx: typer.Context,
    purpose: Annotated[str | None, typer.Option(help="What the export is for (recorded).")] = None,
    out: Annotated[Path | None, typer.Option(help="The folder to write (created).")] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Business time (ISO; Bangkok if no offset): only what happened until then."
        ),
    ] = None,
    requested_by: Annotated[str | None, typer.Option(help="Who asked for it (recorded).")] = None,
    csv: Annotated[
        bool, typer.Option("--csv", help="Write CSV beside every Parquet file.")
    ] = False,
    topic: Annotated[list[str] | None, typer.Option(help="Read these topics instead.")] = None,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if not purpose or out is None:
        typer.echo("kgo export needs --purpose TEXT and --out DIR", err=True)
        raise typer.Exit(2)
    try:
        cut = parse_until(until)
    except ValueError as error:
        raise typer.BadParameter(f"--until {until!r} is not an ISO date or time") from error
    manifest = _export(
        purpose=purpose,
        out=out,
        until=cut,
        requested_by=requested_by,
        csv=csv,
        topics=topic,
    )
    counts = manifest["counts"]
    typer.echo(
        f"export {manifest['export_id']} in {out}: {counts['exported_rows']} event rows, "
        f"{len(manifest['tables'])} tables; skipped {sum(counts['undecodable'].values())} "
        f"undecodable, {counts['duplicates']} duplicates, {counts['erased_rows']} of erased "
        f"residents; key {manifest['pseudonym_key_id']}"
    )


def _settings(topics: list[str] | None = None) -> ResearchSettings:
    settings = ResearchSettings()
    if topics:
        settings.topics = list(topics)
    return settings


def _export(
    *,
    purpose: str,
    out: Path,
    until: datetime | None,
    requested_by: str | None,
    csv: bool,
    topics: list[str] | None,
) -> dict[str, Any]:
    from ..application.export import ExportRefused
    from ..bootstrap import run_export

    try:
        with RichProgress() as progress:
            result = asyncio.run(
                run_export(
                    purpose=purpose,
                    out=out,
                    until=until,
                    requested_by=requested_by,
                    csv=csv,
                    settings=_settings(topics),
                    progress=progress,
                )
            )
    except ExportRefused as refused:
        typer.echo(f"export refused ({refused.code}): {refused}", err=True)
        raise typer.Exit(2) from refused
    except (OSError, KafkaError) as error:  # Kafka or the audit database unreachable
        typer.echo(f"export failed, nothing was handed out: {error}", err=True)
        raise typer.Exit(2) from error
    return result.manifest


@export_app.command("audit")
def audit(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every export so far: when, who, why, until when, which key, what it contained."""
    from ..bootstrap import audit_log

    records = asyncio.run(audit_log(_settings()).records())
    if as_json:
        for r in records:
            typer.echo(json.dumps(dataclasses.asdict(r), default=str, sort_keys=True))
        return
    if not records:
        typer.echo("no exports yet")
    for r in records:
        rows = sum(t["rows"] for t in r.tables)
        until = r.until.isoformat() if r.until else "-"
        typer.echo(
            f"{r.created_at:%Y-%m-%d %H:%M:%S%z}  {r.export_id}  user={r.os_user}  "
            f"requested_by={r.requested_by or '-'}  until={until}  key={r.key_id}  "
            f"tables={len(r.tables)} rows={rows}  out={r.out}\n    purpose: {r.purpose}"
        )


def report(
    out: Annotated[Path, typer.Option(help="The folder to write the report to.")] = Path(
        "kgo-report"
    ),
    from_export: Annotated[
        Path | None,
        typer.Option(
            help="An export folder to build from (default: a fresh export into OUT/export first)."
        ),
    ] = None,
    purpose: Annotated[
        str, typer.Option(help="The purpose recorded for the fresh export.")
    ] = "kgo report",
    requested_by: Annotated[str | None, typer.Option(help="Who asked (recorded).")] = None,
) -> None:
    """An HTML report and a PDF with figures and short captions, built from an export."""
    from ..bootstrap import build_report_files

    source = from_export
    if source is None:
        source = out / f"export-{SystemClock().now():%Y%m%dT%H%M%S}"
        _export(
            purpose=purpose,
            out=source,
            until=None,
            requested_by=requested_by,
            csv=False,
            topics=None,
        )
    with RichProgress() as progress:
        done = build_report_files(source, out, progress)
    empty = [f.id for f in done.figures if f.empty]
    typer.echo(
        f"report in {out}: report.html, report.pdf, {len(done.figures)} figures"
        + (f" ({', '.join(empty)}: no data)" if empty else "")
    )
