"""Settings of the dashboard (env prefix ``PROJECTIONS_DASHBOARD_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROJECTIONS_DASHBOARD_", extra="ignore")

    heartbeat_seconds: float = Field(15.0, gt=0)
    """A comment line on an idle stream this often, so proxies and the browser keep it."""
    stream_max_seconds: float = Field(900.0, gt=0)
    """A stream ends after this long; the browser reconnects at once (EventSource ``retry``)."""
    retry_ms: int = Field(2000, ge=0)
    """How long the browser waits before reconnecting a stream that ended."""
