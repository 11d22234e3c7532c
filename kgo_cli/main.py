"""`kgo`: the one command-line entry point for operators and analysts."""

from __future__ import annotations

import typer

from kgo_cli import (
    audit_cmd,
    dlq_cmd,
    export_cmd,
    infra_cmd,
    merchant_cmd,
    missions_cmd,
    projections_cmd,
    report_cmd,
    run_cmd,
    schemas_cmd,
    serve_cmd,
    simulate_cmd,
    status_cmd,
    transit_cmd,
    wallet_cmd,
)

app = typer.Typer(
    help="KGO, the platform behind Khon Kaen's city token.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(
    infra_cmd.app, name="infra", help="Start, stop and inspect the local Kafka and PostgreSQL."
)
app.add_typer(
    schemas_cmd.app, name="schemas", help="Generate and check the published event contracts."
)
app.add_typer(wallet_cmd.app, name="wallet", help="Wallet operations: tokens, rebuild, erasure.")
app.add_typer(merchant_cmd.app, name="merchant", help="Shops: daily statements, till credentials.")
app.add_typer(missions_cmd.app, name="missions", help="Missions: bulk awards, check-in codes.")
app.add_typer(
    transit_cmd.app, name="transit", help="The city bus: validators, network, statements."
)
app.add_typer(export_cmd.app, name="export")
app.add_typer(dlq_cmd.app, name="dlq", help="Dead letters: what a consumer set aside, and rewind.")
app.add_typer(
    audit_cmd.app, name="audit", help="The signed daily digests, verified from Kafka alone."
)
app.command("report", help="The research report (HTML and PDF) built from an export.")(
    report_cmd.report
)
app.command("serve", help="Run one service (wallet, missions, merchant, transit, projections).")(
    serve_cmd.serve
)

app.command("replay", help="Rebuild the projections' read models from the topics.")(
    projections_cmd.replay
)
app.command("run", help="Run the whole platform: the five services, until Ctrl-C.")(run_cmd.run)
app.command("prepare", help="The treasury and bus network on a running platform, once.")(
    run_cmd.prepare
)
app.command("status", help="Every service process: pid, restarts, readiness, lag.")(
    status_cmd.status
)
app.command("simulate", help="A seeded city on the running platform.")(simulate_cmd.simulate)
app.command("demo", help="The platform, a simulated campaign, the report.")(simulate_cmd.demo)


@app.command("bench")
def bench(
    quick: bool = typer.Option(False, "--quick", help="A ~30 s run without the profile."),
) -> None:
    """Measure the wallet and the relay next to this machine's raw Postgres and Kafka
    limits (needs `kgo infra up`); writes BENCHMARKS.md."""
    from bench.run import cli

    cli(["--quick"] if quick else [])


if __name__ == "__main__":
    app()
