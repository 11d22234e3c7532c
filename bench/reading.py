"""The reading of a run: short statements backed by the numbers of the table. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from .results import RAW_AFTER, RAW_BEFORE, TARGET_RATIO, Machine, Memory, Row


def _find(rows: Sequence[Row], scenario: str, concurrency: int) -> Row | None:
    return next((r for r in rows if r.scenario == scenario and r.concurrency == concurrency), None)


def reading(rows: Sequence[Row], memory: Memory, machine: Machine | None = None) -> list[str]:
    """Short, number-backed statements about the table."""
    lines = [
        _shared(machine), _drift(rows), _target(rows),
        *(_batching(rows, op) for op in ("spend", "grant")),
        _limit(rows), _cpu(rows), _split(rows), _http(rows), _memory(memory),
    ]  # fmt: skip
    return [line for line in lines if line]


def _shared(machine: Machine | None) -> str:
    if machine is None or not machine.contended:
        return ""
    took = (
        f"other processes kept {machine.others_cores:.1f} of its {machine.cores} cores busy "
        "on average during the run"
        if machine.others_cores is not None
        else f"1-minute load {machine.load[0]:.1f} on {machine.cores} cores before the run"
    )
    return (
        f"Caution: the machine was shared ({took}); every rate here, raw and wallet alike, "
        "is lower than on an idle machine. Compare the ratios more than the rates."
    )


def _drift(rows: Sequence[Row]) -> str:
    pairs = [
        (b, a)
        for b in rows if b.scenario == RAW_BEFORE
        for a in rows if a.scenario == RAW_AFTER and a.concurrency == b.concurrency
    ]  # fmt: skip
    if not pairs:
        return ""
    changes = ", ".join(f"{(a.rate / b.rate - 1) * 100:+.0f}% at {b.concurrency}" for b, a in pairs)
    return (
        f"The raw insert rate measured last differs from the first by {changes}: that is how "
        "much the machine itself moved during the run; ratios use the mean of the two."
    )


def _target(rows: Sequence[Row]) -> str:
    wallet = [r for r in rows if r.wallet and r.ratio is not None]
    if not wallet:
        return ""
    missed = [r for r in wallet if (r.ratio or 0.0) < TARGET_RATIO]
    named = ", ".join(f"{r.scenario} at {r.concurrency} ({r.ratio:.2f})" for r in missed)
    line = (
        f"Target (≥ {TARGET_RATIO:.1f}x the raw insert rate at the same concurrency): "
        f"met by {len(wallet) - len(missed)} of {len(wallet)} wallet rows"
        + (f"; missed by {named}." if missed else ".")
    )
    top = max(wallet, key=lambda r: (r.concurrency, r.rate))
    if top in missed and top.raw_rate:
        needed = TARGET_RATIO * top.raw_rate
        line += (
            f" Half the raw rate at {top.concurrency} callers is {needed:,.0f}/s: at most "
            f"{1e6 / needed:,.0f} µs of wall time per command through the one writer, against "
            f"{1e6 / top.rate:,.0f} µs now."
        )
    return line


def _batching(rows: Sequence[Row], op: str) -> str:
    batched = _find(rows, f"wallet {op}s (batched)", 32)
    single = _find(rows, f"wallet {op}s (1 per tx, stock store)", 32)
    if not (batched and single and single.rate):
        return ""
    return (
        f"Batching at 32 callers: {batched.rate:,.0f} {op}s/s against {single.rate:,.0f} "
        f"with one command per transaction ({batched.rate / single.rate:.1f}x), "
        f"mean batch {batched.mean_batch or 0:.1f}."
    )


def _limit(rows: Sequence[Row]) -> str:
    busy = [r for r in rows if r.writer_busy is not None and r.concurrency == 32 and r.wallet]
    if not busy:
        return ""
    worst = max(busy, key=lambda r: r.writer_busy or 0.0)
    share = (worst.writer_busy or 0.0) * 100
    if share >= 85:
        return (
            f"What limits it: the wallet's single writer thread is busy {share:.0f}% of the "
            f"time in '{worst.scenario}' at 32 callers, so the limit is the work per batch "
            "in that one thread (deciding in Python, encoding events, one transaction), "
            "not Postgres's capacity for more connections."
        )
    return (
        f"The writer thread is busy only {share:.0f}% of the time in '{worst.scenario}' "
        "at 32 callers: the callers (event loop) or the round trips limit it, not the writer."
    )


def _cpu(rows: Sequence[Row]) -> str:
    cpu = [r for r in rows if r.cpu_us and r.wallet and r.concurrency == 32]
    if not cpu:
        return ""
    parts = ", ".join(
        f"{r.scenario} {r.cpu_us:,.0f} µs (at most {1e6 / (r.cpu_us or 1):,.0f}/s)" for r in cpu
    )
    return (
        "Writer CPU per command at 32 callers (its own thread's CPU time, so other "
        f"processes barely move it): {parts}; that is as fast as one writer thread can go on "
        "this CPU, whatever Postgres could take."
    )


def split_cost(rows: Sequence[Row], scenario: str) -> tuple[float, float] | None:
    """(µs per transaction, µs per command) of writer CPU for one batched scenario, fitted on
    its smallest and largest mean batch: CPU per command = per_tx / batch + per_command."""
    points = sorted(
        (r.mean_batch, r.cpu_us)
        for r in rows
        if r.scenario == scenario and r.wallet and r.mean_batch and r.cpu_us
    )
    if len(points) < 2 or points[0][0] == points[-1][0]:
        return None
    (b1, c1), (b2, c2) = points[0], points[-1]
    per_tx = (c1 - c2) / (1 / b1 - 1 / b2)
    return per_tx, c2 - per_tx / b2


def _split(rows: Sequence[Row]) -> str:
    scenarios = dict.fromkeys(r.scenario for r in rows if r.wallet)
    fits = [(name, split_cost(rows, name)) for name in scenarios]
    parts = [f"{name}: {fit[0]:,.0f} + {fit[1]:,.0f}" for name, fit in fits if fit]
    if not parts:
        return ""
    return (
        "Writer CPU split as µs per transaction + µs per command (fitted from batch 1 and the "
        f"largest batch): {'; '.join(parts)}. Batching has paid off the transaction; what is "
        "left is per command."
    )


def _http(rows: Sequence[Row]) -> str:
    spends = [r for r in rows if r.scenario.startswith("wallet spends over HTTP")]
    http = [r for r in spends if "open loop" not in r.scenario]
    bus = _find(rows, "wallet spends (batched)", 32)
    if not http:
        return ""
    best = max(http, key=lambda r: r.rate)
    line = _bare(http) + (
        f"Over HTTP a wallet takes {best.rate:,.0f} spends/s at {best.concurrency} "
        f"connections (p50 {best.p50_ms or 0:.1f} ms"
        + (f"; {best.scenario.rsplit(', ', 1)[1]}" if ", " in best.scenario else "")
        + ")"
    )
    if bus:
        line += f", against {bus.rate:,.0f}/s straight into its command bus"
    line += (
        ": per-request Python work in the HTTP process (the edge and the writer under one "
        "GIL), not the ledger, bounds it."
    )
    steady = [r for r in spends if "open loop" in r.scenario]
    if steady:
        line += (
            " At a steady offered rate: "
            + ", ".join(
                f"{r.concurrency:,}/s offered, {r.rate:,.0f}/s answered, "
                f"p99 {r.p99_ms or 0:,.0f} ms"
                for r in steady
            )
            + " (aim: p99 under 50 ms at 1,000/s)."
        )
    return line


def _bare(http: Sequence[Row]) -> str:
    """Service over bare framework, per connection count (the HTTP rows' ratio column)."""
    held = [r for r in http if r.ratio is not None]
    if not held:
        return ""
    pairs = ", ".join(
        f"{r.rate:,.0f}/{r.raw_rate or 0:,.0f} = {r.ratio:.2f} at {r.concurrency}"
        + (f" ({r.scenario.rsplit(', ', 1)[1]})" if ", " in r.scenario else "")
        for r in held
    )
    met = sum(1 for r in held if (r.ratio or 0.0) >= TARGET_RATIO)
    return (
        f"HTTP spends against the bare framework in the same run (service/bare): {pairs}; "
        f"the target of {TARGET_RATIO:.1f} is met by {met} of {len(held)} rows. "
    )


def _memory(memory: Memory) -> str:
    line = f"Memory: peak RSS {memory.peak_rss_mib:,.0f} MiB"
    if memory.cache_entries is None:
        return line + "."
    line += f" with {memory.cache_entries:,} aggregates in the writer's cache"
    if memory.bytes_per_account:
        line += f"; about {memory.bytes_per_account:,.0f} bytes per cached account"
    line += "."
    if memory.bytes_per_account and memory.cache_size:
        full = memory.cache_size * memory.bytes_per_account / 1024**2
        line += (
            f" Only accounts are cached (receipts and identity claims are read back from the "
            f"store on a retry), so a full cache of {memory.cache_size:,} accounts holds about "
            f"{full:,.0f} MiB."
        )
    return line
