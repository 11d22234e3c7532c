"""The environment variables each service reads: the fields of its pydantic settings classes
(its own, the infrastructure's, the access keys', the Kafka login's), named as pydantic-settings
names them."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from kgo_cli.status_cmd import settings_class
from kgo_runtime.access import AccessSettings
from kgo_runtime.kafka_security import KafkaSecuritySettings
from kgo_runtime.settings import InfraSettings
from services.projections.entrypoints.dashboard.settings import DashboardSettings
from services.wallet.adapters.digest_signing import DigestSettings

SHARED: tuple[type[BaseSettings], ...] = (InfraSettings, AccessSettings, KafkaSecuritySettings)
EXTRA: dict[str, tuple[type[BaseSettings], ...]] = {
    "projections": (DashboardSettings,),
    "wallet": (DigestSettings,),
}


def env_names(cls: type[BaseSettings]) -> dict[str, bool]:
    """Each variable ``cls`` reads -> whether it is required (has no default)."""
    prefix = cls.model_config.get("env_prefix", "")
    names = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names[(alias if isinstance(alias, str) else prefix + name).upper()] = field.is_required()
    return names


def service_env(service: str) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for cls in (settings_class(service), *SHARED, *EXTRA.get(service, ())):
        found.update(env_names(cls))
    return found
