"""Research exports' settings (env prefix ``RESEARCH_``; the key: ``KGO_EXPORT_PSEUDONYM_KEY``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kgo_contracts import topics
from kgo_runtime.access import dev_secret
from kgo_runtime.settings import InfraSettings, ServiceSettings


class ResearchSettings(ServiceSettings):
    """Exports read Kafka and write their audit log to the projections database."""

    model_config = SettingsConfigDict(env_prefix="RESEARCH_", extra="ignore", populate_by_name=True)
    service_name = "projections"

    #: The topics an export reads (another list only for isolated tests).
    topics: list[str] = Field(default_factory=lambda: list(topics.EVENT_TOPICS))
    #: Schema of the audit table (``<schema>.export_audit``) in the projections database.
    audit_schema: str = "research"
    #: Groups of fewer distinct residents are merged or suppressed in the read models.
    suppression_threshold: int = 10
    #: The pseudonymisation key (text of at least 16 characters, used as the HMAC key as it is;
    #: a platform secret that never leaves the platform). Unset on a developer machine:
    #: generated once into $KGO_HOME/secrets/export-pseudonym.key.
    pseudonym_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KGO_EXPORT_PSEUDONYM_KEY", "RESEARCH_PSEUDONYM_KEY"),
    )

    def key_bytes(self) -> bytes:
        if self.pseudonym_key is not None:
            text = self.pseudonym_key.get_secret_value().strip()
        else:
            text = dev_secret(dev_key_path()).strip()
        if len(text) < 16:
            raise ValueError("the export pseudonym key must have at least 16 characters")
        return text.encode()


def dev_key_path() -> Path:
    return InfraSettings().home / "secrets" / "export-pseudonym.key"
