"""The report on disk: matplotlib figures (PNG and SVG), an HTML page (jinja2) and a PDF
(matplotlib's PdfPages: no browser needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from jinja2 import Environment, select_autoescape
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure as PlotFigure

from ..domain.report_data import NO_DATA, Figure

COLOURS = {"granted": "#2a9d8f", "spent": "#e76f51", "rides": "#264653", "gini": "#6a4c93",
           "coins_share": "#e9c46a", "residents": "#2a9d8f", "coins": "#457b9d"}  # fmt: skip


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _nums(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def draw(figure: Figure) -> PlotFigure:
    plot, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    ax.set_title(figure.title)
    if figure.empty:
        _no_data(ax)
        return plot
    if figure.kind == "bars":
        width = 2.8
        offsets = (-width / 2, width / 2)
        for (name, values), offset in zip(figure.series.items(), offsets, strict=False):
            xs = [mdates.date2num(x) + offset for x in figure.x]
            ax.bar(xs, _nums(values), width=width, label=name, color=COLOURS.get(name))
        ax.xaxis_date()
        ax.set_ylim(bottom=0)
        ax.set_ylabel("coins")
        ax.legend()
    elif figure.kind in ("lines", "ridership"):
        for name, values in figure.series.items():
            ax.plot(figure.x, _nums(values), marker="o", label=name, color=COLOURS.get(name))
        if figure.kind == "ridership":
            start, end = figure.extra["campaign"]
            ax.axvspan(mdates.date2num(start), mdates.date2num(end) + 1, color="#e9c46a",
                       alpha=0.3, label="1-baht campaign")  # fmt: skip
            ax.set_ylim(bottom=0)
            ax.set_ylabel("rides per day")
            ax.legend()
        else:
            ax.set_ylim(0, 1)
            ax.set_ylabel("Gini")
        plot.autofmt_xdate()
    elif figure.kind == "lorenz":
        ax.plot(figure.x, _nums(figure.series["coins_share"]), color=COLOURS["coins_share"],
                label="Lorenz curve")  # fmt: skip
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="equal shares")
        ax.set_xlabel("share of shops (fewest coins first)")
        ax.set_ylabel("cumulative share of coins")
        ax.legend()
    elif figure.kind in ("funnel", "hbars"):
        name, values = next(iter(figure.series.items()))
        labels = list(reversed(figure.x))
        ax.barh(labels, _nums(list(reversed(values))), color=COLOURS.get(name))
        ax.set_xlabel(name)
    return plot


class ReportFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "figures").mkdir(parents=True, exist_ok=True)
        self._plots: list[tuple[Figure, PlotFigure]] = []

    def figure(self, figure: Figure) -> list[str]:
        plot = draw(figure)
        self._plots.append((figure, plot))
        written = []
        for suffix in ("png", "svg"):
            path = self.root / "figures" / f"{figure.id}.{suffix}"
            plot.savefig(path, dpi=120)
            written.append(str(path))
        return written

    def documents(self, figures: list[Figure], manifest: dict[str, Any]) -> list[str]:
        html = self.root / "report.html"
        html.write_text(PAGE.render(figures=figures, m=manifest), encoding="utf-8")
        pdf = self.root / "report.pdf"
        with PdfPages(pdf) as pages:
            pages.savefig(_title_page(manifest))
            for figure, plot in self._plots:
                # under the axes, inside the constrained layout (the PNG and SVG have none:
                # the HTML page sets the caption beside them)
                plot.supxlabel(textwrap.fill(figure.caption, 120), fontsize=8, x=0.01, ha="left")
                pages.savefig(plot)
                plt.close(plot)
            meta = pages.infodict()
            meta["Title"] = "KGO research report"
        self._plots.clear()
        return [str(html), str(pdf)]


def _title_page(manifest: dict[str, Any]) -> PlotFigure:
    page = plt.figure(figsize=(8, 4.2))
    lines = [
        "KGO — Khon Kaen city token: research report",
        "",
        f"Export {manifest.get('export_id')} made {manifest.get('created_at')}",
        f"Purpose: {manifest.get('purpose')}",
        f"Until: {manifest.get('until') or 'the end of every topic'}",
        f"Residents pseudonymised (key {manifest.get('pseudonym_key_id')}); groups of fewer "
        f"than {manifest.get('suppression_threshold')} residents merged or suppressed.",
    ]
    page.text(0.05, 0.9, "\n".join(lines), va="top", fontsize=10, wrap=True)
    return page


PAGE = Environment(autoescape=select_autoescape(default=True)).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>KGO research report</title>
<style>
body { font-family: system-ui, "Noto Sans Thai", sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }
figure { margin: 2rem 0; } img { max-width: 100%; } figcaption { color: #444; }
.th { color: #666; font-weight: normal; display: block; font-size: 0.8em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
</style></head><body>
<h1>KGO research report <span class="th">รายงานการวิจัยเหรียญเมืองขอนแก่น</span></h1>
<p>Built from one export; anyone holding that export rebuilds this report with
<code>kgo report --from-export DIR</code>.</p>
<dl>
<dt>Export</dt><dd>{{ m.export_id }} ({{ m.created_at }})</dd>
<dt>Purpose</dt><dd>{{ m.purpose }}</dd>
<dt>Until</dt><dd>{{ m.until or "the end of every topic" }}</dd>
<dt>Pseudonym key</dt><dd>{{ m.pseudonym_key_id }}</dd>
<dt>Suppression</dt><dd>groups of fewer than {{ m.suppression_threshold }} residents merged
  into "other" or suppressed</dd>
<dt>Records</dt><dd>{{ m.counts.exported_rows }} exported</dd>
</dl>
{% for f in figures %}
<figure id="{{ f.id }}">
<h2>{{ f.title }} <span class="th" lang="th">{{ f.title_th }}</span></h2>
<img src="figures/{{ f.id }}.svg" alt="{{ f.title }}">
<figcaption>{{ f.caption }}</figcaption>
</figure>
{% endfor %}
</body></html>
"""
)
