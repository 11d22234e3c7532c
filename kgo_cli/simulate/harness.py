"""The five services as `kgo serve` processes for one simulated city of its own: free ports,
a Postgres schema and topics named after the run, a KGO_HOME, the demo profile on the
shared business clock. What the simulator's end-to-end tests, its fault test and its bench
start from (never touching `kgo run`'s data or ports). The infrastructure itself (Kafka,
PostgreSQL) is whatever ``KGO_*`` points at: the shared one, or a throwaway instance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx

from kgo_cli.infra.processes import free_port
from kgo_runtime.clock import BANGKOK, set_shared_time
from kgo_runtime.settings import PROJECT_ROOT, SERVICE_NAMES, InfraSettings

from .http import Endpoints
from .plan import CityConfig

SOURCES = ("wallet", "missions", "merchant", "transit")


@dataclass
class Platform:
    home: Path
    name: str = field(default_factory=lambda: f"sim_{uuid.uuid4().hex[:8]}")
    infra_env: dict[str, str] = field(default_factory=dict)  # KGO_KAFKA_PORT, KGO_PG_PORT...
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICE_NAMES})
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def infra(self) -> InfraSettings:
        env = {k[4:].lower(): v for k, v in self.infra_env.items() if k.startswith("KGO_")}
        return InfraSettings(**{k: v for k, v in env.items() if k != "home"})

    @property
    def topics(self) -> dict[str, str]:
        return {s: f"kgo.{self.name}.{s}.events" for s in SOURCES}

    def all_topics(self) -> list[str]:
        return [*self.topics.values(), *(f"{t}.dlq" for t in self.topics.values())]

    @property
    def urls(self) -> Endpoints:
        return Endpoints(*(f"http://127.0.0.1:{self.ports[s]}" for s in SERVICE_NAMES))

    def env(self) -> dict[str, str]:
        t, wallet = self.topics, f"http://127.0.0.1:{self.ports['wallet']}"
        env = {
            **os.environ, **self.infra_env, "KGO_HOME": str(self.home), "KGO_PROFILE": "demo",
            "KGO_CLOCK": "shared",
            **{f"{s.upper()}_DATABASE_SCHEMA": self.name for s in SERVICE_NAMES},
            **{f"{s.upper()}_HTTP_PORT": str(p) for s, p in self.ports.items()},
            **{f"{s.upper()}_WALLET_URL": wallet for s in SERVICE_NAMES if s != "wallet"},
            "WALLET_EVENTS_TOPIC": t["wallet"], "WALLET_MISSIONS_TOPIC": t["missions"],
            "WALLET_MISSIONS_CONSUMER": f"{self.name}-wallet-missions",
            "MISSIONS_EVENTS_TOPIC": t["missions"], "MISSIONS_WALLET_TOPIC": t["wallet"],
            "MISSIONS_MERCHANT_TOPIC": t["merchant"], "MISSIONS_TRANSIT_TOPIC": t["transit"],
            "MERCHANT_EVENTS_TOPIC": t["merchant"], "MERCHANT_WALLET_EVENTS_TOPIC": t["wallet"],
            "TRANSIT_EVENTS_TOPIC": t["transit"], "TRANSIT_WALLET_TOPIC": t["wallet"],
            **{f"PROJECTIONS_{s.upper()}_TOPIC": t[s] for s in SOURCES},
            "PROJECTIONS_CONSUMER_NAME": f"{self.name}-projections",
            "WALLET_CODE_SENDS_PER_ADDRESS": "100000000",
            "WALLET_CODE_CHECKS_PER_ADDRESS": "100000000", "WALLET_CODE_SENDS_PER_PHONE": "1000",
            **self.extra_env,
        }  # fmt: skip
        return env

    # ------------------------------------------------------------------ lifecycle
    async def create(self, config: CityConfig, partitions: int = 3) -> None:
        from kgo_runtime.testing import create_topics

        self.home.mkdir(parents=True, exist_ok=True)
        await create_topics(self.infra.kafka_bootstrap, self.all_topics(), partitions=partitions)
        set_shared_time(
            self.home / "clock.json",
            datetime.combine(config.start - timedelta(days=1), dtime(9), BANGKOK),
        )

    def start(self, services: tuple[str, ...] = SERVICE_NAMES, timeout: float = 120) -> None:
        for service in services:
            self.spawn(service)
        for service in services:
            self.wait_ready(service, timeout)

    def spawn(self, service: str) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{service}.log").open("ab") as out:
            self.procs[service] = subprocess.Popen(
                [sys.executable, "-m", "kgo_cli.main", "serve", service], env=self.env(),
                cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited with {proc.returncode}: {self.log(service)}")
            try:
                url = f"http://127.0.0.1:{self.ports[service]}/readyz"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{service} not ready after {timeout:.0f} s: {self.log(service)}")

    def log(self, service: str) -> str:
        path = self.home / "logs" / f"{service}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self, service: str) -> int:
        """kill -9, as a crash would; returns the exit status."""
        proc = self.procs[service]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=30)

    def restart(self, service: str, timeout: float = 120) -> None:
        self.kill(service)
        self.spawn(service)
        self.wait_ready(service, timeout)

    async def prepare_treasury(
        self, budgets: tuple[tuple[str, str, int], ...] | None = None
    ) -> None:
        """The admin token, genesis, budgets (``platform_setup.DEFAULT_BUDGETS`` unless
        given) and each service's wallet token."""
        from kgo_cli import platform_setup
        from kgo_cli.platform_setup import prepare_treasury
        from services.wallet.settings import WalletSettings

        os.environ["KGO_HOME"] = str(self.home)
        for key, value in self.infra_env.items():
            os.environ[key] = value
        default = platform_setup.DEFAULT_BUDGETS
        platform_setup.DEFAULT_BUDGETS = budgets or default
        try:
            await prepare_treasury(
                WalletSettings(
                    database_schema=self.name,
                    http_port=self.ports["wallet"],
                    database_url=self.infra.database_url("wallet"),
                )
            )
        finally:
            platform_setup.DEFAULT_BUDGETS = default

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    async def drop(self) -> None:
        """Drops the schemas and the topics (after ``stop``)."""
        import asyncpg

        from kgo_runtime.testing import delete_topics

        infra = self.infra
        for service in SERVICE_NAMES:
            try:
                conn = await asyncpg.connect(infra.database_url(service))
            except (OSError, asyncpg.PostgresError):
                continue
            try:
                await conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
            finally:
                await conn.close()
        await delete_topics(infra.kafka_bootstrap, self.all_topics())
