"""Settings of the missions service (env prefix ``MISSIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kgo_contracts import topics
from kgo_runtime.settings import ServiceSettings


class MissionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MISSIONS_", extra="ignore")
    service_name: ClassVar[str] = "missions"

    #: The topic the relay publishes to, and the topics progress is computed from (other
    #: names only for isolated tests).
    events_topic: str = topics.MISSIONS
    wallet_topic: str = topics.WALLET
    merchant_topic: str = topics.MERCHANT
    transit_topic: str = topics.TRANSIT
    #: The most one resident receives from a campaign's missions (sign-up bonus included),
    #: e.g. ``MISSIONS_CAMPAIGN_CAPS='{"welcome": 400}'``. A campaign not named has no cap.
    campaign_caps: dict[str, int] = Field(default_factory=lambda: {"welcome": 400})
    signup_reward: int = 100
    signup_campaign: str = "welcome"
    signup_programme: str = "welcome"
    #: The budget that pays activities' rewards, and the campaign they count toward.
    activities_programme: str = "municipal-activities"
    activities_campaign: str = "activities"
    #: Wrong check-in codes a resident may send per activity in the window below.
    guess_attempts: int = 5
    guess_window_seconds: int = 600
    #: Aggregates (residents' progress, the catalogue) the store keeps in memory.
    cache_size: int = 50_000
    #: Connections of the event store's (psycopg) pool.
    event_store_pool_size: int = 5
