"""Settings of the merchant service (env prefix ``MERCHANT_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kgo_runtime.settings import ServiceSettings


class MerchantSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCHANT_", extra="ignore")
    service_name: ClassVar[str] = "merchant"
