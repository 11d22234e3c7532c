"""Settings of the missions service (env prefix ``MISSIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kgo_runtime.settings import ServiceSettings


class MissionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MISSIONS_", extra="ignore")
    service_name: ClassVar[str] = "missions"
