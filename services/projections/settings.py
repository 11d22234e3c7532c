"""Settings of the projections service (env prefix ``PROJECTIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kgo_runtime.settings import ServiceSettings


class ProjectionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROJECTIONS_", extra="ignore")
    service_name: ClassVar[str] = "projections"
