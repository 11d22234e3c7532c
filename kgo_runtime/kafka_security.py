"""How every Kafka client of the platform logs in: one place for the security settings.

On a developer machine and in docker-compose the broker listens in PLAINTEXT and nothing is
set. In Kubernetes (deploy/k8s) each service is a Strimzi ``KafkaUser`` with SCRAM-SHA-512 and
ACLs; its Deployment sets::

    KGO_KAFKA_SECURITY_PROTOCOL=SASL_SSL        # PLAINTEXT (default), SASL_PLAINTEXT, SASL_SSL, SSL
    KGO_KAFKA_SASL_MECHANISM=SCRAM-SHA-512      # the default whenever the protocol is SASL_*
    KGO_KAFKA_SASL_USERNAME=kgo-wallet
    KGO_KAFKA_SASL_PASSWORD_FILE=/var/run/secrets/kafka-user/password   # or KGO_KAFKA_SASL_PASSWORD
    KGO_KAFKA_SSL_CA_FILE=/var/run/secrets/kafka-ca/ca.crt

Every client construction site spreads :func:`kafka_client_options` into the aiokafka
constructor (producer, consumer, admin client, low-level client).
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurityError(ValueError):
    """The Kafka security settings cannot work (e.g. SASL without a username or password)."""


class KafkaSecuritySettings(BaseSettings):
    """Kafka login settings (env prefix ``KGO_KAFKA_``)."""

    model_config = SettingsConfigDict(env_prefix="KGO_KAFKA_", extra="ignore")

    security_protocol: SecurityProtocol = "PLAINTEXT"
    #: Unset means SCRAM-SHA-512 when the protocol is SASL_*.
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    #: A file holding the password (a mounted Secret); wins over ``sasl_password`` if both are set.
    sasl_password_file: Path | None = None
    #: PEM bundle of the cluster CA, for SSL and SASL_SSL (else the system's trust store).
    ssl_ca_file: Path | None = Field(default=None)

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def password(self) -> str | None:
        """The SASL password, read from ``sasl_password_file`` when that is set."""
        if self.sasl_password_file is not None:
            try:
                text = self.sasl_password_file.read_text(encoding="utf-8")
            except OSError as e:
                raise KafkaSecurityError(
                    f"KGO_KAFKA_SASL_PASSWORD_FILE={self.sasl_password_file} cannot be read: {e}"
                ) from e
            return text.strip("\r\n") or None
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value() or None
        return None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client; raises KafkaSecurityError if unusable."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.uses_sasl:
            password = self.password()
            missing = [
                name
                for name, value in (
                    ("KGO_KAFKA_SASL_USERNAME", self.sasl_username),
                    ("KGO_KAFKA_SASL_PASSWORD (or KGO_KAFKA_SASL_PASSWORD_FILE)", password),
                )
                if not value
            ]
            if missing:
                raise KafkaSecurityError(
                    f"KGO_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                    + " and ".join(missing)
                )
            options["sasl_mechanism"] = self.sasl_mechanism or "SCRAM-SHA-512"
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = password
        elif self.sasl_mechanism or self.sasl_username:
            raise KafkaSecurityError(
                f"KGO_KAFKA_SASL_* is set but KGO_KAFKA_SECURITY_PROTOCOL={self.security_protocol}"
                " does not use SASL (use SASL_PLAINTEXT or SASL_SSL)"
            )
        if self.uses_ssl:
            options["ssl_context"] = _ssl_context(self.ssl_ca_file)
        elif self.ssl_ca_file is not None:
            raise KafkaSecurityError(
                f"KGO_KAFKA_SSL_CA_FILE is set but KGO_KAFKA_SECURITY_PROTOCOL="
                f"{self.security_protocol} does not use TLS (use SSL or SASL_SSL)"
            )
        return options


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    from aiokafka.helpers import create_ssl_context

    if ca_file is not None and not ca_file.is_file():
        raise KafkaSecurityError(f"KGO_KAFKA_SSL_CA_FILE={ca_file} is not a file")
    return create_ssl_context(cafile=str(ca_file) if ca_file is not None else None)


@functools.cache
def _cached_options() -> tuple[tuple[str, Any], ...]:
    return tuple(KafkaSecuritySettings().client_options().items())


def kafka_client_options(settings: KafkaSecuritySettings | None = None) -> dict[str, Any]:
    """The aiokafka keyword arguments for logging in: ``security_protocol`` and, as needed,
    ``sasl_mechanism``, ``sasl_plain_username``, ``sasl_plain_password`` and ``ssl_context``.

    Without ``settings`` they come from the environment, read once per process (the same
    SSL context is shared by every client). Raises KafkaSecurityError when they cannot work.
    """
    if settings is not None:
        return settings.client_options()
    return dict(_cached_options())


def reset_kafka_client_options() -> None:
    """Forget the options read from the environment (tests that change it)."""
    _cached_options.cache_clear()
