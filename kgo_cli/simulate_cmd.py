"""`kgo simulate` (a seeded city on a running platform) and `kgo demo` (the whole platform in
a demo profile of its own, a simulated campaign, the report, and where to look)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import typer

from kgo_cli.simulate.plan import PRESETS, CityConfig
from kgo_cli.simulate.runner import Endpoints, Simulator
from kgo_runtime.clock import BANGKOK, set_shared_time
from kgo_runtime.settings import SERVICE_NAMES, SERVICE_PORTS, InfraSettings


#: The demo's own names: a KGO_HOME below the usual one ($KGO_HOME/demo), and, named after
#: that home (so two checkouts sharing one PostgreSQL and Kafka never meet), a schema in each
#: database and its own topics.
def _suffix() -> str:
    import hashlib

    return hashlib.sha256(str(InfraSettings().home.resolve()).encode()).hexdigest()[:6]


DEMO_SCHEMA = f"demo_{_suffix()}"
DEMO_TOPIC = "kgo.demo-" + _suffix() + ".{}.events"


def _config(
    preset: str | None,
    residents: int | None,
    shops: int | None,
    seed: int,
    days: int | None,
    until: str | None,
) -> CityConfig:
    config = CityConfig(seed=seed)
    if preset:
        if preset not in PRESETS:
            raise typer.BadParameter(f"one of {', '.join(PRESETS)}", param_hint="--preset")
        config = replace(config, **PRESETS[preset])
    if residents is not None:
        if not 1 <= residents <= 100_000:
            raise typer.BadParameter("1 to 100,000", param_hint="--residents")
        config = replace(config, residents=residents)
    if shops is not None:
        config = replace(config, shops=shops)
    if days is not None:
        config = replace(config, end=config.start + timedelta(days=days - 1))
    if until is not None:
        config = replace(config, end=date.fromisoformat(until))
    return config


def _progress(line: str) -> None:
    width = shutil.get_terminal_size((100, 20)).columns
    sys.stderr.write("\r" + line[: width - 1].ljust(width - 1))
    sys.stderr.flush()


def print_summary(summary: dict[str, Any]) -> None:
    refusals = summary["refusals"] or {"none": 0}
    typer.echo("")
    typer.echo("summary")
    typer.echo(f"  residents            {summary['residents']:>10,}")
    typer.echo(f"  coins granted        {summary['coins_granted']:>10,}")
    typer.echo(f"  coins spent          {summary['coins_spent']:>10,}")
    typer.echo(f"  coins settled        {summary['coins_settled']:>10,}")
    typer.echo(f"  held by residents    {summary['coins_held_by_residents']:>10,}")
    typer.echo(f"  rides in coins       {summary['rides_in_coins']:>10,}")
    typer.echo(
        f"  rides in baht only   {summary['rides_in_baht_only']:>10,}   (riders paid {summary['ride_baht']:,.0f} baht)"  # noqa: E501
    )
    typer.echo(f"  redemptions          {summary['redemptions']:>10,}")
    typer.echo(f"  Gini of balances     {summary['gini']:>10}")
    typer.echo("  refusals by reason")
    for reason, count in refusals.items():
        typer.echo(f"    {reason:<34} {count:>8,}")
    typer.echo(
        "  budgets left         " + ", ".join(f"{k} {v:,}" for k, v in summary["budgets"].items())
    )


def run_simulation(
    config: CityConfig,
    home: Path,
    *,
    concurrency: int,
    direct: bool | None,
    stop_day: int | None = None,
) -> dict[str, Any]:
    simulator = Simulator(
        config,
        home,
        Endpoints(*(f"http://127.0.0.1:{SERVICE_PORTS[s]}" for s in SERVICE_NAMES)),
        concurrency=concurrency,
        direct=direct,
        progress=_progress,
    )
    started = time.monotonic()
    asyncio.run(simulator.run(until=stop_day))
    # The read models too (the run's barriers leave out the projections): the report and the
    # dashboard read them.
    asyncio.run(simulator.settled())
    sys.stderr.write("\n")
    summary = asyncio.run(simulator.summary())
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["commands"] = simulator.events
    summary["requests"] = simulator.requests
    (home / "simulation-summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def simulate(
    residents: int | None = typer.Option(
        None, "--residents", help="1,000 to 100,000 [default: 1,000]."
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="article (1,000 / 200 shops), published (7,000 / 620), demo (300 / 40).",
    ),
    shops: int | None = typer.Option(None, "--shops", help="Shops [default: 200]."),
    seed: int = typer.Option(2022, "--seed", help="Same seed, same city, same totals."),
    days: int | None = typer.Option(None, "--days", help="Stop after this many simulated days."),
    until: str | None = typer.Option(
        None, "--until", help="Stop after this business day (YYYY-MM-DD)."
    ),
    concurrency: int = typer.Option(16, "--concurrency", help="Residents acting at once."),
    direct: bool = typer.Option(
        False,
        "--direct",
        help="Pay shops and buses through the wallet's consent routes even if merchant and transit run.",  # noqa: E501
    ),
) -> None:
    """Drive a seeded city through the running platform's public APIs (start it with
    KGO_CLOCK=shared KGO_PROFILE=demo, as `kgo demo` does). Stopped (Ctrl-C, --days,
    --until), it resumes from $KGO_HOME/simulation.json with the same seed."""
    home = InfraSettings().home
    base = _config(preset, residents, shops, seed, None, None)
    stop_day = None
    if days is not None:
        stop_day = days
    if until is not None:
        stop_day = (date.fromisoformat(until) - base.start).days + 1
    typer.echo(
        f"simulating {base.residents:,} residents, {base.shops} shops, {base.start} to {base.end} (seed {seed}); state in {home / 'simulation.json'}"  # noqa: E501
    )
    try:
        summary = run_simulation(
            base, home, concurrency=concurrency, direct=True if direct else None, stop_day=stop_day
        )
    except RuntimeError as error:
        typer.echo(f"\n{error}", err=True)
        raise typer.Exit(1) from None
    print_summary(summary)


# ------------------------------------------------------------------------------- kgo demo
def demo_environment(home: Path) -> dict[str, str]:
    """The demo profile: its own KGO_HOME, a schema per database, its own topics, the shared
    business clock, and sign-up rate limits fit for a whole city behind one address."""
    t = {s: DEMO_TOPIC.format(s) for s in ("wallet", "missions", "merchant", "transit")}
    return {
        "KGO_HOME": str(home),
        "KGO_PROFILE": "demo",
        "KGO_CLOCK": "shared",
        **{f"{s.upper()}_DATABASE_SCHEMA": DEMO_SCHEMA for s in SERVICE_NAMES},
        "WALLET_EVENTS_TOPIC": t["wallet"],
        "WALLET_MISSIONS_TOPIC": t["missions"],
        "WALLET_MISSIONS_CONSUMER": "demo-wallet-missions",
        "MISSIONS_EVENTS_TOPIC": t["missions"],
        "MISSIONS_WALLET_TOPIC": t["wallet"],
        "MISSIONS_MERCHANT_TOPIC": t["merchant"],
        "MISSIONS_TRANSIT_TOPIC": t["transit"],
        "MERCHANT_EVENTS_TOPIC": t["merchant"],
        "MERCHANT_WALLET_EVENTS_TOPIC": t["wallet"],
        "TRANSIT_EVENTS_TOPIC": t["transit"],
        "TRANSIT_WALLET_TOPIC": t["wallet"],
        "PROJECTIONS_WALLET_TOPIC": t["wallet"],
        "PROJECTIONS_MISSIONS_TOPIC": t["missions"],
        "PROJECTIONS_MERCHANT_TOPIC": t["merchant"],
        "PROJECTIONS_TRANSIT_TOPIC": t["transit"],
        "WALLET_DIGEST_TOPIC": DEMO_TOPIC.format("digests"),
        "PROJECTIONS_DIGESTS_TOPIC": DEMO_TOPIC.format("digests"),
        "RESEARCH_TOPICS": json.dumps(list(t.values())),
        "RESEARCH_AUDIT_SCHEMA": f"{DEMO_SCHEMA}_research",
        "WALLET_CODE_SENDS_PER_ADDRESS": "100000000",
        "WALLET_CODE_CHECKS_PER_ADDRESS": "100000000",
        "WALLET_CODE_SENDS_PER_PHONE": "1000",
    }


def demo_topics() -> list[str]:
    names = [DEMO_TOPIC.format(s) for s in ("wallet", "missions", "merchant", "transit", "digests")]
    return [*names, *(f"{n}.dlq" for n in names)]


async def _reset(infra: InfraSettings, home: Path) -> None:
    import asyncpg

    from kgo_runtime.testing import delete_topics

    for service in SERVICE_NAMES:
        conn = await asyncpg.connect(infra.database_url(service))
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {DEMO_SCHEMA} CASCADE")
            await conn.execute(f"DROP SCHEMA IF EXISTS {DEMO_SCHEMA}_research CASCADE")
        finally:
            await conn.close()
    await delete_topics(infra.kafka_bootstrap, demo_topics())
    if home.exists():
        shutil.rmtree(home)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def demo(
    residents: int = typer.Option(
        300, "--residents", help="Residents [default: 300, about five minutes on 2 cores]."
    ),
    shops: int = typer.Option(40, "--shops"),
    seed: int = typer.Option(2022, "--seed"),
    days: int | None = typer.Option(
        None, "--days", help="Stop after this many days (a later `kgo demo` goes on)."
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Drop the demo's data (schemas, topics, files) and exit."
    ),
    keep_running: bool | None = typer.Option(
        None,
        "--keep-running/--exit",
        help="Keep the platform up after the report, so the dashboard and the API docs answer "
        "(Ctrl-C stops it), or stop it. Default: keep it up on a terminal, stop otherwise.",
    ),
    concurrency: int = typer.Option(12, "--concurrency"),
) -> None:
    """One command: the five services in the demo profile, the treasury, a simulated 2022
    campaign, the research report, and where to look."""
    from kgo_cli import run_cmd
    from kgo_cli.platform_setup import prepare_treasury

    infra = InfraSettings()
    home = infra.home / "demo"
    if reset:
        asyncio.run(_reset(infra, home))
        typer.echo(
            f"demo data dropped: schema {DEMO_SCHEMA!r} in every kgo_* database, topics {DEMO_TOPIC.format('*')}, {home}"  # noqa: E501
        )
        return
    busy = [s for s in SERVICE_NAMES if not _port_free(SERVICE_PORTS[s])]
    if busy:
        typer.echo(f"ports of {', '.join(busy)} are in use: stop `kgo run` first", err=True)
        raise typer.Exit(1)
    # --days stops early (and a later `kgo demo` resumes): the city is the whole campaign's,
    # whose residents' sign-up days depend on its length.
    config = _config(None, residents, shops, seed, None, None)
    state = home / "simulation.json"
    if state.exists():
        saved = json.loads(state.read_text())
        if (
            saved.get("next_day", 0) >= min(days or config.days, config.days)
            or saved.get("seed") != seed
            or saved.get("residents") != residents
        ):
            typer.echo(
                "an earlier demo's data is there: starting afresh (kgo demo --reset drops it)"
            )
            asyncio.run(_reset(infra, home))
        else:
            typer.echo(f"resuming the stopped demo at day {saved['next_day'] + 1}")
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(demo_environment(home))
    asyncio.run(_create_missing(infra))
    if not (home / "clock.json").exists():
        set_shared_time(
            home / "clock.json",
            datetime.combine(config.start - timedelta(days=1), dtime(9), BANGKOK),
        )
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = {service: run_cmd._spawn(service, logs) for service in SERVICE_NAMES}
    try:
        typer.echo(f"starting the five services in the demo profile (logs in {logs})")
        run_cmd._wait_ready(list(SERVICE_NAMES), procs, 120)
        for line in asyncio.run(prepare_treasury()):
            typer.echo(line)
        typer.echo(
            f"simulating {config.residents:,} residents and {config.shops} shops, {config.start} to {config.end} (seed {seed})"  # noqa: E501
        )
        summary = run_simulation(config, home, concurrency=concurrency, direct=None, stop_day=days)
        print_summary(summary)
        report = _report(home)
        _where_to_look(home, report)
        if keep_running is None:  # a newcomer at a terminal came to look; a script did not
            keep_running = sys.stdin.isatty() and sys.stdout.isatty()
        if not keep_running:
            typer.echo("the services stop now; `kgo demo --keep-running` keeps them up to look")
        if keep_running:
            typer.echo("the platform stays up; Ctrl-C stops it")
            stop = False

            def request_stop(*_: object) -> None:
                nonlocal stop
                stop = True

            signal.signal(signal.SIGINT, request_stop)
            signal.signal(signal.SIGTERM, request_stop)
            while not stop:
                time.sleep(0.5)
    except (RuntimeError, KeyboardInterrupt) as error:
        typer.echo(f"\nstopped: {error or 'interrupted'}; run `kgo demo` again to resume", err=True)
        raise typer.Exit(1) from None
    finally:
        run_cmd._stop(procs)


async def _create_missing(infra: InfraSettings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in demo_topics() if t not in existing]
        if missing:
            await admin.create_topics([NewTopic(t, infra.topic_partitions, 1) for t in missing])
    finally:
        await admin.close()


def _report(home: Path) -> Path | None:
    """`kgo report` when the research command exists, else None."""
    import subprocess

    from kgo_cli import main

    names = {c.name for c in main.app.registered_commands} | {
        g.name for g in main.app.registered_groups
    }
    if "report" not in names:
        typer.echo("(the research report is not on this branch yet: `kgo report` will write it)")
        return None
    out = home / "report"
    done = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "report", "--help"], capture_output=True, text=True
    )
    args = ["report", "--out", str(out)] if "--out" in done.stdout else ["report"]
    result = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", *args], capture_output=True, text=True, timeout=600
    )
    typer.echo(result.stdout[-2000:])
    if result.returncode != 0:
        typer.echo(f"kgo report failed: {result.stderr[-2000:]}", err=True)
        return None
    return out


def _where_to_look(home: Path, report: Path | None) -> None:
    port = SERVICE_PORTS
    typer.echo("")
    typer.echo("where to look")
    typer.echo(
        f"  dashboard        http://127.0.0.1:{port['projections']}/  (public overview: /v1/public/overview)"  # noqa: E501
    )
    typer.echo(
        "  API docs         "
        + "  ".join(
            f"{s} http://127.0.0.1:{port[s]}/docs" for s in SERVICE_NAMES if s != "projections"
        )
    )
    typer.echo(f"  report           {report or '(not built)'}")
    typer.echo(f"  summary          {home / 'simulation-summary.json'}")
    typer.echo(
        f"  Kafka topics     {', '.join(DEMO_TOPIC.format(s) for s in ('wallet', 'missions', 'merchant', 'transit'))} on {InfraSettings().kafka_bootstrap}"  # noqa: E501
    )
    typer.echo(f"  admin token      {home / 'secrets' / 'admin.token'}")
    typer.echo(
        "  again            `kgo demo` resumes or starts afresh; `kgo demo --reset` drops the demo's data"  # noqa: E501
    )
