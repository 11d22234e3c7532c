"""The five services as real `kgo serve` processes on topics and Postgres schemas of their
own, sharing one KGO_HOME (so one signing key), each of the four others calling the wallet with
a service token of its own. For tests that need every API at once and no particular story."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from kgo_runtime.access import AccessSigner, Role, signing_key
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .platform import ServiceProcess, kgo, service_process

SERVICES = ("wallet", "missions", "merchant", "transit", "projections")


@dataclass
class Platform:
    home: Path
    processes: dict[str, ServiceProcess]

    def url(self, service: str) -> str:
        return self.processes[service].url

    def token(self, role: Role | str, subject: str | None = None) -> str:
        """A signed access token of ``role``, as the wallet would issue it."""
        signer = AccessSigner(signing_key())
        return signer.issue(Role(role), f"probe-{role}", subject, timedelta(hours=1)).token


def _service_token(wallet: ServiceProcess, name: str) -> str:
    args = ["wallet", "token", "create", "--role", "service", "--name", name]
    done = kgo(wallet.env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def start_platform(
    home: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    bootstrap = InfraSettings().kafka_bootstrap
    name = unique_name("e2e.five")
    topics = {k: f"{name}.{k}" for k in ("wallet", "missions", "merchant", "transit")}
    every = [*topics.values(), *(f"{t}.dlq" for t in topics.values())]
    await create_topics(bootstrap, every, partitions=3)
    monkeypatch.setenv("KGO_HOME", str(home))  # the signing key these tests use
    wallet = service_process("wallet", home, {
        "WALLET_EVENTS_TOPIC": topics["wallet"], "WALLET_MISSIONS_TOPIC": topics["missions"],
        "WALLET_MISSIONS_CONSUMER": name.replace(".", "_"),
    }, logs)  # fmt: skip
    processes = {"wallet": wallet}
    try:
        wallet.start()
        env = {
            "missions": {
                "MISSIONS_EVENTS_TOPIC": topics["missions"],
                "MISSIONS_WALLET_TOPIC": topics["wallet"],
                "MISSIONS_MERCHANT_TOPIC": topics["merchant"],
                "MISSIONS_TRANSIT_TOPIC": topics["transit"],
            },
            "merchant": {
                "MERCHANT_EVENTS_TOPIC": topics["merchant"],
                "MERCHANT_WALLET_EVENTS_TOPIC": topics["wallet"],
            },
            "transit": {
                "TRANSIT_EVENTS_TOPIC": topics["transit"],
                "TRANSIT_WALLET_TOPIC": topics["wallet"],
            },
            "projections": {
                "PROJECTIONS_WALLET_TOPIC": topics["wallet"],
                "PROJECTIONS_MISSIONS_TOPIC": topics["missions"],
                "PROJECTIONS_MERCHANT_TOPIC": topics["merchant"],
                "PROJECTIONS_TRANSIT_TOPIC": topics["transit"],
            },
        }
        for service, extra in env.items():
            prefix = service.upper()
            extra |= {
                f"{prefix}_WALLET_URL": wallet.url,
                f"{prefix}_WALLET_TOKEN": _service_token(wallet, service),
            }
            processes[service] = service_process(service, home, extra, logs)
            processes[service].start()
        yield Platform(home, processes)
    finally:
        for process in reversed(processes.values()):
            process.stop()
            process.drop_schema()
        await delete_topics(bootstrap, every)
