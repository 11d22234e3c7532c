"""The simulator's sustained commands per second through the public APIs, and where the time
goes: `uv run python -m bench.simulate [--sizes 1000,10000,100000] [--seconds 120]`.

For each size: the five services in the demo profile (`kgo_cli.simulate.harness`: free
ports, a schema and topics of their own, a KGO_HOME in `.kgo/bench-simulate` of the checkout, all
dropped after), the treasury, then the seeded city from its first day until ``--seconds`` of
wall time have passed (checked between simulated days, so a day at 100,000 residents may run
over). Measured: commands answered per second, the time the simulator's requests waited per
route, the time spent waiting for the platform to finish reacting (the barrier), and the CPU
seconds each service process used (the bottleneck is the service that uses most of its
core). Writes `bench/SIMULATE.md`."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kgo_runtime.settings import PROJECT_ROOT, InfraSettings

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


async def raw_rate(url: str, seconds: float = 5.0, at_once: int = 64) -> float:
    """The same machine's raw figure in the same run: what the simulator's HTTP client and
    a service's HTTP stack answer with nothing behind them (``GET /healthz``, ``at_once``
    in flight), the ceiling any simulated command sits under."""
    from kgo_cli.simulate.http import Api

    api, count = Api(at_once), 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal count
        while time.monotonic() < end:
            await api.http.get(f"{url}/healthz")
            count += 1

    began = time.monotonic()
    try:
        await asyncio.gather(*(worker() for _ in range(at_once)))
    finally:
        await api.close()
    return count / (time.monotonic() - began)


def measure(size: int, seconds: float, concurrency: int, home: Path) -> dict[str, Any]:
    from kgo_cli.simulate.harness import Platform
    from kgo_cli.simulate.plan import CityConfig
    from kgo_cli.simulate.runner import Simulator

    shutil.rmtree(home, ignore_errors=True)
    config = replace(CityConfig(), residents=size, shops=max(20, min(600, size // 5)))
    platform = Platform(home)
    asyncio.run(platform.create(config, partitions=InfraSettings().topic_partitions))
    try:
        platform.start()
        asyncio.run(platform.prepare_treasury())
        simulator = Simulator(config, home, platform.urls, concurrency=concurrency)
        cpu0 = {s: cpu_seconds(p.pid) for s, p in platform.procs.items()}
        cpu0["simulator"] = cpu_seconds(os.getpid())
        load0 = os.getloadavg()[0]
        asyncio.run(simulator.run(seconds=seconds))
        started, setup_commands = simulator.measured_from  # the days only, not the set-up
        wall = time.monotonic() - started
        cpu = {s: cpu_seconds(p.pid) - cpu0[s] for s, p in platform.procs.items()}
        cpu["simulator"] = cpu_seconds(os.getpid()) - cpu0["simulator"]
        days = simulator.load_state()
        raw = asyncio.run(raw_rate(platform.urls.wallet))
    finally:
        platform.stop()
        asyncio.run(platform.drop())
    waited = sum(t for _, t in simulator.timings.values())
    barrier = simulator.barrier
    return {
        "residents": size, "shops": config.shops, "days": days,
        "commands": simulator.events - setup_commands, "requests": simulator.requests,
        "seconds": wall, "commands_per_s": (simulator.events - setup_commands) / wall,
        "requests_per_s": simulator.requests / wall,
        "via": "wallet consent routes" if simulator.direct else "merchant and transit APIs",
        "timings": sorted(simulator.timings.items(), key=lambda kv: -kv[1][1]),
        "waited": waited, "cpu": cpu, "load": (load0 + os.getloadavg()[0]) / 2,
        "barriers": barrier.count if barrier else 0,
        "barrier_s": barrier.waited if barrier else 0.0,
        "held": dict(getattr(barrier, "held", {})),
        "signed_up": simulator.totals.counts["residents_signed_up"], "raw": raw,
        "retried": dict(simulator.api.retried),
    }  # fmt: skip


def write(results: list[dict[str, Any]], concurrency: int, path: Path, note: str) -> None:
    lines = [
        "# The simulator's throughput",
        "",
        "Written by `uv run python -m bench.simulate`. The seeded city of `kgo simulate` on the",
        "five services in the demo profile (shared business clock, free ports, schemas and",
        f"topics of its own), from its first simulated day, {concurrency} residents acting at",
        "once; a *command* is one answered write (a sign-up step, a refresh, a payment code, a",
        "redemption, a tap...); *requests* add the reads (balances in the app, budgets between",
        "waves, shops' balances before rewards and settlements) and retries. Each size ran for",
        "a bounded wall time (whole simulated days), not the whole campaign. *raw*: the same",
        "machine's figure in the same run, `GET /healthz` of the wallet through the simulator's",
        "HTTP client, 64 in flight, for 5 s right after the city (nothing behind it).",
        "",
        "| residents | shops | simulated days | sign-ups | commands | s | commands/s | requests/s | raw requests/s | barriers (s) | load | via |",  # noqa: E501
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--|",
    ]
    for r in results:
        lines.append(
            f"| {r['residents']:,} | {r['shops']} | {r['days']} | {r['signed_up']:,} | "
            f"{r['commands']:,} | {r['seconds']:.0f} | {r['commands_per_s']:.1f} | "
            f"{r['requests_per_s']:.1f} | {r['raw']:.0f} | "
            f"{r['barriers']} ({r['barrier_s']:.0f}) | {r['load']:.1f} | {r['via']} |"
        )
    lines += [
        "",
        "Barrier snapshots not yet quiet, by what held them (a relay's lag gauge above",
        "0 / a consumer behind its topic's end / end offsets still moving):",
        "",
    ]
    lines += [f"- {r['residents']:,} residents: " + ", ".join(
        f"{k} {v}" for k, v in r["held"].items()) for r in results]  # fmt: skip
    lines += ["", "## Which service is the bottleneck", "",
              "CPU seconds each service process (and the simulator's own) used during the run,",
              "and as a share of the wall time (100 % is one core busy all the time):", "",
              "| residents | " + " | ".join(results[0]["cpu"]) + " |",
              "|---:|" + "---:|" * len(results[0]["cpu"])]  # fmt: skip
    for r in results:
        cells = [f"{c:.0f} s ({c / r['seconds']:.0%})" for c in r["cpu"].values()]
        lines.append(f"| {r['residents']:,} | " + " | ".join(cells) + " |")
    for r in results:
        lines += [
            "",
            f"## Where the simulator's requests waited at {r['residents']:,} residents",
            "",
            "Seconds waited for answers, by route (summed over the concurrent residents, so",
            "more than the wall time):",
            "",
            "| route | requests | waited s | share | mean ms |",
            "|:--|---:|---:|---:|---:|",
        ]
        for route, (count, spent) in r["timings"][:12]:
            share = spent / r["waited"] if r["waited"] else 0
            lines.append(
                f"| `{route}` | {int(count):,} | {spent:.1f} | {share:.0%} | {1000 * spent / count:.0f} |"  # noqa: E501
            )
    lines += ["", note, ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "SIMULATE.md")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    home = PROJECT_ROOT / ".kgo" / "bench-simulate"  # never the shared infra's home
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size:,} residents ...", flush=True)
        results.append(measure(size, args.seconds, args.concurrency, home))
        r = results[-1]
        print(f"  {r['commands']:,} commands in {r['seconds']:.0f} s: {r['commands_per_s']:.1f}/s")
        print(f"  cpu {', '.join(f'{s} {c:.0f}s' for s, c in r['cpu'].items())}", flush=True)
        write(results, args.concurrency, args.out, args.note)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
