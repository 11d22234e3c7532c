"""Settings: one pydantic-settings class per service, on top of the local infrastructure's.

Every value has a default that works on a developer machine after ``kgo infra up``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]

SERVICE_NAMES: tuple[str, ...] = ("wallet", "missions", "merchant", "transit", "projections")
#: Default HTTP port of each service.
SERVICE_PORTS: dict[str, int] = {
    "wallet": 8101,
    "missions": 8102,
    "merchant": 8103,
    "transit": 8104,
    "projections": 8105,
}

#: A supervised group's processes each serve their operations (``/metrics``, ``/healthz``,
#: ``/readyz``) on a port of their own, unless set the service's HTTP port plus a multiple of
#: this: the background process's + 100, HTTP process i's + 200 + 100 * i (kgo_runtime.roles).
#: The default HTTP ports are 8101-8105, so the five services' ranges never overlap.
OPERATIONS_PORT_STEP = 100


class InfraSettings(BaseSettings):
    """Where the local Kafka broker and PostgreSQL live (env prefix ``KGO_``)."""

    model_config = SettingsConfigDict(env_prefix="KGO_", extra="ignore")

    home: Path = Field(
        default=PROJECT_ROOT / ".kgo", description="Data, logs and pid files of `kgo infra`."
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "kgo", description="Downloaded Kafka jars (outside git)."
    )
    kafka_version: str = "4.1.1"
    log4j_version: str = "2.24.3"
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "512m"
    #: Class-data sharing archive of the broker's classes (about halves a warm start).
    kafka_cds: bool = True
    topic_partitions: int = 6
    pg_host: str = "127.0.0.1"
    pg_port: int = 15432
    pg_user: str = "kgo"
    pg_bin_dir: Path = Path("/usr/lib/postgresql/15/bin")

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def database_name(self, service: str) -> str:
        return f"kgo_{service}"

    def database_url(self, service: str) -> str:
        return (
            f"postgresql://{self.pg_user}@{self.pg_host}:{self.pg_port}/"
            f"{self.database_name(service)}"
        )


def _infra() -> InfraSettings:
    return InfraSettings()


class ServiceSettings(BaseSettings):
    """Base of each service's settings; a subclass sets ``service_name`` and its env prefix,
    e.g. ``WALLET_DATABASE_URL``."""

    model_config = SettingsConfigDict(extra="ignore")
    service_name: ClassVar[str]

    kafka_bootstrap: str = Field(default_factory=lambda: _infra().kafka_bootstrap)
    database_url: str = ""
    #: Postgres schema of the service's own tables (event store, relay and consumer state);
    #: tests give each run its own.
    database_schema: str = "public"
    database_pool_size: int = 10
    http_host: str = "127.0.0.1"
    http_port: int = 0
    #: Processes `kgo serve` starts to serve HTTP on the port (SO_REUSEPORT); above 1, the
    #: background components run in one of them at a time (kgo_runtime.leadership).
    http_workers: int = 1
    #: Whether `kgo serve` runs the background components (relay, consumers, followers,
    #: sweepers) in a process of their own that serves no HTTP, so that the ``http_workers``
    #: processes only serve requests (kgo_runtime.roles).
    background_process: bool = False
    #: Where that background process serves ``/metrics`` (the relay's, consumers',
    #: followers' and sweepers' series), ``/healthz`` and ``/readyz``, and no API: a second
    #: target for Prometheus. 0: the HTTP port + 100 (wallet 8201).
    background_metrics_port: int = 0
    #: Where HTTP process 0 of a supervised group (``http_workers`` above 1, or beside a
    #: background process) serves its own ``/metrics``, ``/healthz`` and ``/readyz``; process
    #: i on this + 100 * i. The HTTP port is shared, so a scrape there reaches any one of
    #: them; here each is a target of its own. 0: the HTTP port + 200 (wallet 8301, 8401...).
    process_metrics_port: int = 0
    log_level: str = "INFO"
    #: Where the wallet's API is, for services that call it (as ``service``).
    wallet_url: str = f"http://127.0.0.1:{SERVICE_PORTS['wallet']}"
    #: This service's wallet API token; unset on a developer machine (see wallet_client).
    wallet_token: SecretStr | None = None

    def model_post_init(self, __context: object) -> None:
        if not self.database_url:
            self.database_url = _infra().database_url(self.service_name)
        if not self.http_port:
            self.http_port = SERVICE_PORTS[self.service_name]
        if not self.background_metrics_port:
            self.background_metrics_port = self.http_port + OPERATIONS_PORT_STEP
        if not self.process_metrics_port:
            self.process_metrics_port = self.http_port + 2 * OPERATIONS_PORT_STEP
