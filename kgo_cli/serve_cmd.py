"""`kgo serve <service>`."""

from __future__ import annotations

import typer


def serve(service: str = typer.Argument(..., help="wallet, missions, merchant, transit or projections")) -> None:
    raise typer.Exit(1)
