"""Formatting the results: the console table and BENCHMARKS.md. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from .reading import reading
from .results import Machine, Report, Row

COLUMNS = (
    "scenario", "concurrency", "ops/s", "p50 ms", "p99 ms", "raw ops/s", "ratio", "mean batch",
    "writer CPU µs/op",
)  # fmt: skip


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def cells(row: Row) -> list[str]:
    scenario = row.scenario + (f" ({row.errors} errors)" if row.errors else "")
    return [
        scenario,
        str(row.concurrency),
        _num(row.rate),
        _num(row.p50_ms, 2),
        _num(row.p99_ms, 2),
        _num(row.raw_rate),
        _num(row.ratio, 2),
        _num(row.mean_batch, 1),
        _num(row.cpu_us),
    ]


def format_table(rows: Sequence[Row]) -> str:
    """A fixed-width table for the console; numbers right-aligned."""
    table = [list(COLUMNS), *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table[0]), rule, *(line(v) for v in table[1:])])


def markdown_table(rows: Sequence[Row]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |"
    align = "|" + "|".join([":---", *["---:"] * (len(COLUMNS) - 1)]) + "|"
    body = ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join([head, align, *body])


def _cpu_line(m: Machine) -> list[str]:
    if m.stack_cores is None or m.others_cores is None:
        return []
    return [
        f"- CPU during the run: this benchmark's stack (this process, its Postgres and Kafka) "
        f"{m.stack_cores:.2f} cores on average; other processes {m.others_cores:.2f}"
    ]


def render_markdown(report: Report) -> str:
    m = report.machine
    parts = [
        "# Benchmarks",
        "",
        "Written by `uv run python -m bench.run"
        + (" --quick" if report.mode == "quick" else "")
        + "`; every number below comes from one run on the machine described here.",
        "",
        "## Machine",
        "",
        f"- {m.cores} cores ({m.cpu}), {m.ram_gib:.1f} GiB RAM, {m.os}",
        f"- Python {m.python}; PostgreSQL {m.postgres}; Kafka {m.kafka}",
        f"- Date: {m.date}; 1-minute load average {m.load[0]:.2f} before the run, "
        f"{m.load[1]:.2f} after",
        *_cpu_line(m),
        "",
        "## Method",
        "",
        *(f"- {line}" for line in report.method),
        "",
        "## Results",
        "",
        markdown_table(report.rows),
        "",
        "## Reading",
        "",
        *(f"- {line}" for line in reading(report.rows, report.memory, m)),
    ]
    if report.profile:
        title = "## Where the writer's time goes (cProfile)"
        parts += ["", title, "", "```", report.profile, "```"]
    return "\n".join(parts) + "\n"
