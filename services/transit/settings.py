"""Settings of the transit service (env prefix ``TRANSIT_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kgo_runtime.settings import ServiceSettings


class TransitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSIT_", extra="ignore")
    service_name: ClassVar[str] = "transit"
