"""The report: figures with short captions, as an HTML page and a PDF, from an export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..domain.report_data import FIGURES, Figure
from .ports import ExportReader, Progress


class ReportRenderer(Protocol):
    def figure(self, figure: Figure) -> list[str]:
        """Draw one figure; the files written (PNG, SVG)."""
        ...

    def documents(self, figures: list[Figure], manifest: dict[str, Any]) -> list[str]:
        """The HTML page and the PDF; the files written."""
        ...


@dataclass(frozen=True, slots=True)
class Report:
    figures: list[Figure]
    files: list[str]


def build_report(export: ExportReader, renderer: ReportRenderer, progress: Progress) -> Report:
    figures = [make(export.table) for make in FIGURES]
    progress.start("Drawing figures", total=len(figures))
    files: list[str] = []
    for figure in figures:
        files += renderer.figure(figure)
        progress.advance()
    progress.finish()
    progress.start("Writing HTML and PDF")
    files += renderer.documents(figures, dict(export.manifest()))
    progress.finish()
    return Report(figures, files)
