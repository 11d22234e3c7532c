"""Kafka login settings: PLAINTEXT by default, SASL needs a user and a password (or a mounted
password file), TLS builds one SSL context from the cluster CA, and what cannot work is refused
at start with the variable to set."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient

from kgo_runtime.kafka_security import (
    KafkaSecurityError,
    KafkaSecuritySettings,
    kafka_client_options,
    reset_kafka_client_options,
)

pytestmark = pytest.mark.unit

_VARS = (
    "KGO_KAFKA_SECURITY_PROTOCOL",
    "KGO_KAFKA_SASL_MECHANISM",
    "KGO_KAFKA_SASL_USERNAME",
    "KGO_KAFKA_SASL_PASSWORD",
    "KGO_KAFKA_SASL_PASSWORD_FILE",
    "KGO_KAFKA_SSL_CA_FILE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    reset_kafka_client_options()
    yield
    reset_kafka_client_options()


def _ca_file(tmp_path: Path) -> Path:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kgo-test-ca")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_plaintext_by_default() -> None:
    assert kafka_client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_plaintext_defaults_to_scram_sha_512(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KGO_KAFKA_SASL_USERNAME", "kgo-wallet")
    monkeypatch.setenv("KGO_KAFKA_SASL_PASSWORD", "s3cret")
    assert kafka_client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "kgo-wallet",
        "sasl_plain_password": "s3cret",
    }
    # The password is a secret: it does not show in the settings' repr.
    assert "s3cret" not in repr(KafkaSecuritySettings())


def test_the_password_can_come_from_a_mounted_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("KGO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KGO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KGO_KAFKA_SASL_USERNAME", "kgo-missions")
    monkeypatch.setenv("KGO_KAFKA_SASL_PASSWORD", "ignored")
    monkeypatch.setenv("KGO_KAFKA_SASL_PASSWORD_FILE", str(secret))
    options = kafka_client_options()
    assert options["sasl_plain_password"] == "from-the-file"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "KGO_KAFKA_SASL_USERNAME and KGO_KAFKA_SASL_PASSWORD"),
        ({"sasl_username": "kgo-wallet"}, "KGO_KAFKA_SASL_PASSWORD"),
        ({"sasl_password": "s3cret"}, "KGO_KAFKA_SASL_USERNAME"),
        ({"sasl_username": "kgo-wallet", "sasl_password": ""}, "KGO_KAFKA_SASL_PASSWORD"),
    ],
)
def test_sasl_without_user_or_password_is_refused(given: dict[str, str], missing: str) -> None:
    settings = KafkaSecuritySettings(security_protocol="SASL_SSL", **given)
    with pytest.raises(KafkaSecurityError, match=f"SASL_SSL needs {missing}"):
        kafka_client_options(settings)


def test_an_unreadable_password_file_is_refused(tmp_path: Path) -> None:
    settings = KafkaSecuritySettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_username="kgo-wallet",
        sasl_password_file=tmp_path / "absent",
    )
    with pytest.raises(KafkaSecurityError, match=r"KGO_KAFKA_SASL_PASSWORD_FILE=.*cannot be read"):
        kafka_client_options(settings)


def test_sasl_fields_without_a_sasl_protocol_are_refused() -> None:
    settings = KafkaSecuritySettings(sasl_username="kgo-wallet", sasl_password="s3cret")
    with pytest.raises(KafkaSecurityError, match="does not use SASL"):
        kafka_client_options(settings)


def test_an_unknown_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAIN")
    with pytest.raises(ValueError, match="security_protocol"):
        kafka_client_options()


def test_tls_builds_an_ssl_context_from_the_cluster_ca(tmp_path: Path) -> None:
    ca = _ca_file(tmp_path)
    settings = KafkaSecuritySettings(
        security_protocol="SASL_SSL",
        sasl_username="kgo-wallet",
        sasl_password="s3cret",
        ssl_ca_file=ca,
    )
    options = kafka_client_options(settings)
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "kgo-test-ca"),),)]
    assert options["security_protocol"] == "SASL_SSL"
    plain_tls = kafka_client_options(KafkaSecuritySettings(security_protocol="SSL"))
    assert set(plain_tls) == {"security_protocol", "ssl_context"}


def test_a_missing_ca_file_or_a_ca_without_tls_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KafkaSecurityError, match=r"KGO_KAFKA_SSL_CA_FILE=.* is not a file"):
        kafka_client_options(
            KafkaSecuritySettings(security_protocol="SSL", ssl_ca_file=tmp_path / "none.crt")
        )
    with pytest.raises(KafkaSecurityError, match="does not use TLS"):
        kafka_client_options(KafkaSecuritySettings(ssl_ca_file=_ca_file(tmp_path)))


async def test_every_aiokafka_client_accepts_the_options(tmp_path: Path) -> None:
    settings = KafkaSecuritySettings(
        security_protocol="SASL_SSL",
        sasl_username="kgo-wallet",
        sasl_password="s3cret",
        ssl_ca_file=_ca_file(tmp_path),
    )
    options = kafka_client_options(settings)
    AIOKafkaClient(bootstrap_servers="127.0.0.1:1", **options)
    AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", **options)
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **options)
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", **options)
    assert producer.client._security_protocol == "SASL_SSL"
    assert consumer._client._sasl_plain_username == "kgo-wallet"


def test_options_from_the_environment_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kafka_client_options()["security_protocol"] == "PLAINTEXT"
    monkeypatch.setenv("KGO_KAFKA_SECURITY_PROTOCOL", "SSL")
    assert kafka_client_options()["security_protocol"] == "PLAINTEXT"
    reset_kafka_client_options()
    assert kafka_client_options()["security_protocol"] == "SSL"


def test_a_service_refuses_to_start_with_sasl_and_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    from services.missions.bootstrap import create_app
    from services.missions.settings import MissionsSettings

    monkeypatch.setenv("KGO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KGO_KAFKA_SASL_USERNAME", "kgo-missions")
    settings = MissionsSettings(
        kafka_bootstrap="127.0.0.1:1", database_url="postgresql://kgo@127.0.0.1:1/kgo_missions"
    )
    with (
        pytest.raises(KafkaSecurityError, match="SASL_PLAINTEXT needs KGO_KAFKA_SASL_PASSWORD"),
        TestClient(create_app(settings)),
    ):
        pass
