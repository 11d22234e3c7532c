"""Settings of the projections service (env prefix ``PROJECTIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kgo_contracts import topics
from kgo_runtime.settings import ServiceSettings


class ProjectionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROJECTIONS_", extra="ignore")
    service_name: ClassVar[str] = "projections"

    #: The live read models' schema (its consumer state lives there too).
    database_schema: str = "projections"
    wallet_topic: str = topics.WALLET
    missions_topic: str = topics.MISSIONS
    merchant_topic: str = topics.MERCHANT
    transit_topic: str = topics.TRANSIT
    #: The wallet's signed daily digests (served as published).
    digests_topic: str = topics.DIGESTS
    #: Public answers withhold any figure about fewer residents than this.
    suppress_below: int = 10
    #: Records per poll (one transaction for the poll; one per partition if it cannot be).
    batch_records: int = 5000
    #: Partitions' transactions of one poll applied side by side (of the service's pool).
    #: 1 (one after the other) until the read models' shared rows (supply, daily totals) are
    #: shown safe under concurrent transactions: with 4, the platform fault test once saw
    #: the projections' balances and supply differ from the fold of the topics.
    partitions_at_once: int = 1
    #: The consumer group and inbox name of the live read models.
    consumer_name: str = "projections"

    @property
    def topics(self) -> list[str]:
        return [self.wallet_topic, self.missions_topic, self.merchant_topic, self.transit_topic]

    def snapshot_schema(self, name: str) -> str:
        """The schema of a replayed past city (``kgo replay --until``), read-only."""
        return f"{self.database_schema}__snap_{name}"
