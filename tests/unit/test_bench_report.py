"""The benchmark report: how a run's numbers are laid out and read. No timings are asserted —
the rows here are made up."""

from __future__ import annotations

import pytest

from bench.profile import summarize
from bench.reading import reading, split_cost
from bench.report import COLUMNS, format_table, markdown_table, render_markdown
from bench.results import RAW_AFTER, RAW_BEFORE, Machine, Memory, Report, Row

pytestmark = pytest.mark.unit

RAW = [Row(RAW_BEFORE, n, r, 0.4, 3.0) for n, r in ((1, 1400), (8, 6600))]
WALLET = [
    Row("wallet spends (batched)", 1, 900, 1.1, 4.0, raw_rate=1400, mean_batch=1.0,
        writer_busy=0.7, cpu_us=800, wallet=True),
    Row("wallet spends (batched)", 32, 4000, 8.0, 20.0, raw_rate=4500, mean_batch=31.5,
        writer_busy=0.97, cpu_us=210, wallet=True),
    Row("wallet spends (1 per tx, stock store)", 32, 500, 60.0, 90.0, raw_rate=4500,
        mean_batch=1.0),
    Row("wallet grants (batched)", 32, 2000, 15.0, 30.0, raw_rate=4500, mean_batch=32.0,
        writer_busy=0.99, cpu_us=400, wallet=True, errors=2),
]  # fmt: skip
MACHINE = Machine(
    cores=2, ram_gib=24.0, cpu="Test CPU", python="3.11.7", postgres="15.18", kafka="4.1.1",
    os="Linux", date="2026-01-01 00:00 UTC", load=(0.2, 1.5), stack_cores=1.8, others_cores=0.1,
)  # fmt: skip
MEMORY = Memory(peak_rss_mib=212.4, cache_entries=40_000, bytes_per_account=830,
                bytes_per_receipt=1_750, cache_size=200_000)  # fmt: skip


def test_ratio_is_the_rate_over_the_raw_rate_and_absent_without_one() -> None:
    assert WALLET[1].ratio == pytest.approx(4000 / 4500)
    assert RAW[0].ratio is None


def test_the_console_table_has_every_column_and_one_line_per_row() -> None:
    lines = format_table(RAW + WALLET).splitlines()
    assert len(lines) == 2 + len(RAW + WALLET)
    for column in COLUMNS:
        assert column in lines[0]
    assert set(lines[1]) == {"-", " "}
    # Numbers are right-aligned: every data line ends at the same column.
    assert len({len(line) for line in lines[2:]}) == 1


def test_missing_values_print_as_a_dash_and_errors_are_named() -> None:
    table = format_table(WALLET)
    raw_line = format_table(RAW).splitlines()[2]
    assert raw_line.split()[-1] == "—"
    assert "wallet grants (batched) (2 errors)" in table
    assert "4,000" in table and "0.89" in table and "31.5" in table


def test_markdown_table_aligns_numbers_right() -> None:
    lines = markdown_table(RAW).splitlines()
    assert lines[0].startswith("| scenario | concurrency | ops/s |")
    assert lines[1] == "|:---|" + "|".join(["---:"] * (len(COLUMNS) - 1)) + "|"
    assert lines[2] == f"| {RAW_BEFORE} | 1 | 1,400 | 0.40 | 3.00 | — | — | — | — |"


def test_reading_holds_only_batched_wallet_rows_against_the_target() -> None:
    text = reading(RAW + WALLET, MEMORY, MACHINE)
    target = next(line for line in text if line.startswith("Target"))
    assert "met by 2 of 3 wallet rows" in target
    assert "wallet grants (batched) at 32 (0.44)" in target
    assert "1 per tx" not in target


def test_reading_reports_how_far_the_raw_rate_drifted_during_the_run() -> None:
    after = [Row(RAW_AFTER, 1, 1050), Row(RAW_AFTER, 8, 6600)]
    drift = next(line for line in reading(RAW + after, MEMORY) if "measured last" in line)
    assert "differs from the first by -25% at 1, +0% at 8" in drift
    assert not any("measured last" in line for line in reading(RAW, MEMORY))


def test_a_missed_target_is_turned_into_a_time_budget_per_command() -> None:
    slow = Row("wallet spends (batched)", 32, 1000, raw_rate=4500, wallet=True)
    target = reading([slow], Memory(peak_rss_mib=1))[0]
    assert target.endswith(
        "Half the raw rate at 32 callers is 2,250/s: at most 444 µs of wall time per "
        "command through the one writer, against 1,000 µs now."
    )


def test_reading_names_the_batching_win_the_writer_limit_and_memory() -> None:
    text = "\n".join(reading(RAW + WALLET, MEMORY, MACHINE))
    assert "4,000 spends/s against 500 with one command per transaction (8.0x)" in text
    assert "busy 99% of the time in 'wallet grants (batched)'" in text
    assert "wallet spends (batched) 210 µs (at most 4,762/s)" in text
    assert "peak RSS 212 MiB with 40,000 aggregates" in text
    assert "830 bytes per cached account" in text
    assert "a full cache of 200,000 accounts holds about 158 MiB" in text
    assert "Caution" not in text


def test_writer_cpu_is_split_into_per_transaction_and_per_command_costs() -> None:
    # 800 = t/1 + c and 210 = t/31.5 + c: t = 609.3, c = 190.7.
    per_tx, per_command = split_cost(WALLET, "wallet spends (batched)") or (0.0, 0.0)
    assert per_tx == pytest.approx(609.3, abs=0.1)
    assert per_command == pytest.approx(190.7, abs=0.1)
    assert split_cost(WALLET, "wallet grants (batched)") is None  # one batch size only
    text = "\n".join(reading(WALLET, MEMORY))
    assert (
        "(fitted from batch 1 and the largest batch): wallet spends (batched): 609 + 191." in text
    )


def test_reading_warns_when_other_processes_shared_the_machine() -> None:
    busy = Machine(**{**MACHINE.__dict__, "others_cores": 0.9})
    first = reading(RAW, Memory(peak_rss_mib=80), busy)[0]
    assert first.startswith("Caution: the machine was shared (other processes kept 0.9 of its 2")


def test_the_markdown_report_has_its_sections_in_order() -> None:
    report = Report(MACHINE, RAW + WALLET, MEMORY, ["One run."], "quick", "profile text")
    md = render_markdown(report)
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == [
        "# Benchmarks",
        "## Machine",
        "## Method",
        "## Results",
        "## Reading",
        "## Where the writer's time goes (cProfile)",
    ]
    assert "`uv run python -m bench.run --quick`" in md
    assert "- 2 cores (Test CPU), 24.0 GiB RAM, Linux" in md
    assert "stack (this process, its Postgres and Kafka) 1.80 cores on average" in md
    assert "- One run." in md and "```\nprofile text\n```" in md


def test_profile_summary_sums_stages_and_ranks_own_time() -> None:
    stats = {
        ("/x/ledger.py", 58, "execute"): (10, 10, 0.01, 2.0, {}),
        ("/x/ledger.py", 90, "_decide"): (100, 100, 0.3, 0.8, {}),
        ("/site/eventsourcing/application.py", 760, "save"): (10, 10, 0.0, 1.2, {}),
        ("/site/json/encoder.py", 205, "iterencode"): (300, 300, 0.5, 0.5, {}),
    }
    text = summarize(stats, commands=100, top=2)
    assert text.splitlines()[0].startswith("100 commands profiled; writer wall time 2.00 s")
    assert "20000 µs per command" in text
    assert "  save (collect, encode, insert, commit)" in text and " 60%" in text
    own = text.split("own time, top functions")[1].splitlines()[1:]
    assert own[0].startswith("json/encoder.py:205(iterencode)")
    assert len(own) == 2


WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8101
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.34ms   10.50ms  91.58ms   80.00%
  Latency Distribution
     50%   22.62ms
     75%   30.01ms
     90%   35.20ms
     99%    1.02s
  1690 requests in 5.00s, 1.01MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    338.90
Transfer/sec:    206.60KB
"""


def test_wrk_output_becomes_a_row():
    from bench.http import parse_wrk

    row = parse_wrk(WRK_OUTPUT, 8)
    assert (row.concurrency, row.rate, row.errors) == (8, 338.90, 3)
    assert (row.p50_ms, row.p99_ms) == (22.62, 1020.0)
    assert not row.wallet


def test_http_rows_are_held_against_the_bare_framework_at_the_same_connections():
    from bench.http import BARE, SCENARIO
    from bench.run import with_bare_rates

    rows = with_bare_rates([
        Row(SCENARIO, 8, 400, 20.0, 90.0, raw_rate=4000),
        Row(BARE, 8, 3200, 2.0, 8.0, raw_rate=4000),
        Row(SCENARIO, 32, 900, 35.0, 120.0, raw_rate=4800),
        Row(BARE, 32, 1500, 20.0, 60.0),
    ])  # fmt: skip
    assert [r.raw_rate for r in rows] == [3200, None, 1500, None]
    assert rows[0].ratio == pytest.approx(0.125)
    text = " ".join(reading(rows, MEMORY))
    assert "400/3,200 = 0.12 at 8" in text and "900/1,500 = 0.60 at 32" in text
    assert "met by 1 of 2 rows" in text


def test_the_reading_names_the_best_http_configuration_and_the_steady_rates():
    from bench.http import BARE, BARE_OPEN, OPEN, SCENARIO
    from bench.run import with_bare_rates

    apart = f"{SCENARIO}, background apart"
    rows = with_bare_rates([
        Row(SCENARIO, 32, 900, 35.0, 120.0),
        Row(BARE, 32, 5000, 6.0, 14.0),
        Row(apart, 32, 1300, 24.0, 100.0),
        Row(BARE, 32, 5200, 6.0, 13.0),
        Row(OPEN, 1000, 990, 210.0, 4800.0),
        Row(BARE_OPEN, 1000, 1000, 0.7, 4.0),
    ])  # fmt: skip
    text = " ".join(reading(rows, MEMORY))
    assert "1,300/5,200 = 0.25 at 32 (background apart)" in text
    assert "takes 1,300 spends/s at 32 connections (p50 24.0 ms; background apart)" in text
    assert "1,000/s offered, 990/s answered, p99 4,800 ms" in text
