"""Faults across the platform (issue 16): a simulated city runs through the public APIs of
the five `kgo serve` processes while each service in turn is killed with -9 and restarted,
then PostgreSQL is restarted in immediate mode, then the Kafka broker is killed with -9 and
started again. All on a THROWAWAY Kafka broker and PostgreSQL cluster the test starts itself
(`kgo infra` code, its own home and ports); the shared ones are never touched.

Afterwards, checked from outside: every answer a client was given is in the ledger exactly
once (each approved redemption has one `DiscountRedeemed` and its captured hold, each paid
tap one `FarePaid`, each confirmed sign-up its wallet); every `MissionCompleted` with a
reward answered by the wallet once (a grant or a recorded refusal); every captured hold has
its redemption and every coin fare its payment; the fold of the wallet's topic equals every
balance the wallet answers and the projections' balances and supply; the supply is
conserved."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from kgo_cli.infra import kafka, lifecycle, postgres, processes
from kgo_cli.simulate.check import Findings, check_city
from kgo_cli.simulate.harness import Platform, free_port
from kgo_cli.simulate.plan import CityConfig
from kgo_cli.simulate.runner import Simulator
from kgo_runtime.settings import SERVICE_NAMES, InfraSettings

pytestmark = pytest.mark.e2e

CITY = CityConfig(seed=16, residents=100, shops=8, start=date(2022, 6, 8), end=date(2022, 6, 12))
FAULTS = (*SERVICE_NAMES, "postgres", "kafka")


@pytest.fixture
def infra(tmp_path: Path) -> Iterator[InfraSettings]:
    """A Kafka broker and a PostgreSQL cluster of this test's own."""
    settings = InfraSettings(
        home=tmp_path / "infra", kafka_port=free_port(), kafka_controller_port=free_port(),
        pg_port=free_port(), topic_partitions=2,
    )  # fmt: skip
    saved = dict(os.environ)
    lifecycle.ensure_up(settings)
    try:
        yield settings
    finally:
        lifecycle.ensure_down(settings, purge=True)
        os.environ.clear()
        os.environ.update(saved)


def restart_postgres_immediately(settings: InfraSettings) -> None:
    p = postgres.paths(settings)
    pg_ctl = [str(settings.pg_bin_dir / "pg_ctl"), "-D", str(p.data_dir), "-m", "immediate"]
    argv = [*pg_ctl, "-l", str(p.log_file), "-w", "-t", "60", "restart"]
    done = subprocess.run(postgres._owner_cmd(argv), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def kill_and_restart_kafka(settings: InfraSettings) -> None:
    pid = kafka.running_pid(settings)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert processes.wait_gone(pid, 10.0)
    lifecycle.ensure_up(settings)  # starts the broker again on its data, waits until ready


def inject(platform: Platform, settings: InfraSettings, fault: str) -> None:
    if fault == "postgres":
        restart_postgres_immediately(settings)
    elif fault == "kafka":
        kill_and_restart_kafka(settings)
    else:
        assert platform.procs[fault].poll() is None, platform.log(fault)
        platform.restart(fault)  # kill -9, then a new process, until ready


@pytest.mark.timeout(600)
async def test_the_city_survives_every_fault(tmp_path: Path, infra: InfraSettings) -> None:
    env = {
        "KGO_KAFKA_PORT": str(infra.kafka_port), "KGO_PG_PORT": str(infra.pg_port),
        "KGO_KAFKA_CONTROLLER_PORT": str(infra.kafka_controller_port),
        "KGO_TOPIC_PARTITIONS": "2",
    }  # fmt: skip
    home = tmp_path / "city"
    platform = Platform(home, infra_env=env)
    await platform.create(CITY, partitions=2)
    try:
        platform.start()
        await platform.prepare_treasury()
        city = Simulator(CITY, home, platform.urls, concurrency=6, direct=False,
                         kafka_bootstrap=infra.kafka_bootstrap)  # fmt: skip
        # A crash answers some requests 500 or not at all: clients send them again.
        city.api.retry_statuses |= {500}
        city.api.attempts = 80
        city.api.journal = []
        done: list[str] = []

        async def faults() -> None:
            await asyncio.sleep(5)  # the city is under way
            for fault in FAULTS:
                await asyncio.to_thread(inject, platform, infra, fault)
                done.append(fault)
                await asyncio.sleep(2)

        injecting = asyncio.create_task(faults())
        await city.run()
        await injecting
        assert done == list(FAULTS)
        print("requests sent again, by answer:", dict(city.api.retried))
        assert await city.settled(timeout=240)
        admin = (home / "secrets" / "admin.token").read_text().strip()
        accounts = [*city.wallets.values(), *city.shop_payees.values(), city.bus_payee]
        found = await check_city(
            city.api, platform.urls, infra.kafka_bootstrap, platform.topics, admin, accounts
        )
        await city.api.close()
        assert found.problems == [], explain(found, infra)
        told = answers_told(city.api.journal)
        redeemed = {str(p["redemption_id"]) for p in found.distinct("merchant", "DiscountRedeemed")}
        paid = {str(p["trip_id"]) for p in found.distinct("transit", "FarePaid")}
        opened = {str(p["account_id"]) for p in found.distinct("wallet", "AccountOpened")}
        assert told["redemptions"] and told["redemptions"] <= redeemed
        assert told["trips"] and told["trips"] <= paid
        assert told["wallets"] and told["wallets"] <= opened
        counts = city.totals.counts
        assert counts["redemptions"] == len(told["redemptions"]) and counts["settlements"] > 0
    finally:
        platform.stop()


def explain(found: Findings, infra: InfraSettings) -> str:
    """For a failure: each differing account's records on the wallet topic beside the
    projections' entries for it, and the projections' stored positions."""
    lines = [*found.problems]
    accounts = set(re.findall(r"projections ([0-9a-f-]{36})", " ".join(found.problems)))
    with psycopg.connect(infra.database_url("projections"), autocommit=True) as conn:
        for account in sorted(accounts):
            lines.append(f"-- {account} on the topic:")
            lines += [f"   {i} {n} {p}" for i, n, p in found.records["wallet"] if account in str(p)]
            lines.append(f"-- {account} in projections.entries:")
            rows = conn.execute(
                "SELECT account_version, type, d_available, d_held, movement_id, occurred_at"
                " FROM projections.entries WHERE account_id = %s ORDER BY account_version",
                (account,),
            ).fetchall()
            lines += [f"   {row}" for row in rows]
        with contextlib.suppress(psycopg.Error):
            positions = conn.execute("TABLE projections.consumer_positions").fetchall()
            lines.append(f"-- stored positions: {positions}")
    return "\n".join(lines)


def answers_told(journal: list[tuple[str, object]] | None) -> dict[str, set[str]]:
    """What the clients were told: approved redemptions, paid trips, opened wallets."""
    told: dict[str, set[str]] = {"redemptions": set(), "trips": set(), "wallets": set()}
    for route, answer in journal or []:
        if not isinstance(answer, dict):
            continue
        if route == "POST /merchant/v1/redemptions" and answer.get("status") == "redeemed":
            told["redemptions"].add(str(answer["redemption_id"]))
        elif route == "POST /v1/taps" and answer.get("status") == "paid":
            told["trips"].add(str(answer["trip_id"]))
        elif route == "POST /v1/taps/batch":
            told["trips"] |= {str(r["trip_id"]) for r in answer["results"] if r["status"] == "paid"}
        elif route == "POST /v1/signups/{}/confirm":
            told["wallets"].add(str(answer["wallet_id"]))
    return told
