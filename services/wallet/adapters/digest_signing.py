"""The municipality's digest signing key (Ed25519) and where the daily digests go.

``WALLET_DIGEST_SIGNING_KEY`` is base64url of the 32-byte Ed25519 seed. On a developer or demo
machine (``KGO_PROFILE`` other than ``production``) a missing key is generated once into
``$KGO_HOME/secrets/digest-signing.key`` (``dev_secret``: atomic, so racing processes agree);
in production a missing or malformed key stops the wallet from starting. The public key is
published in ``schemas/keys/<key_id>.pem`` (``kgo audit key`` prints it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgo_contracts import topics
from kgo_contracts.daily_digest import canonical_json, key_id
from kgo_runtime.access import AccessKeyError, AccessSettings, dev_secret

DEV_KEY_FILE = "digest-signing.key"


class DigestSettings(BaseSettings):
    """The daily digests (env prefix ``WALLET_DIGEST_``)."""

    model_config = SettingsConfigDict(env_prefix="WALLET_DIGEST_", extra="ignore")

    #: base64url of the 32-byte Ed25519 seed; generated per KGO_HOME outside production.
    signing_key: SecretStr | None = None
    #: Where digests are published. Unset: ``kgo.public.digests`` when the ledger goes to
    #: ``kgo.wallet.events``; a wallet on another ledger topic (an isolated test, the demo)
    #: closes no days unless it is given its own digests topic.
    topic: str | None = None
    #: How often the closer looks at the business clock.
    check_seconds: float = 1.0

    def topic_for(self, ledger_topic: str) -> str | None:
        if self.topic:
            return self.topic
        return topics.DIGESTS if ledger_topic == topics.WALLET else None


def _seed(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise AccessKeyError("WALLET_DIGEST_SIGNING_KEY is not base64url") from None
    if len(raw) != 32:
        raise AccessKeyError(f"WALLET_DIGEST_SIGNING_KEY must be 32 bytes, got {len(raw)}")
    return raw


def signing_key(
    settings: DigestSettings | None = None, access: AccessSettings | None = None
) -> Ed25519PrivateKey:
    settings, access = settings or DigestSettings(), access or AccessSettings()
    if settings.signing_key is not None:
        return Ed25519PrivateKey.from_private_bytes(_seed(settings.signing_key.get_secret_value()))
    if access.profile == "production":
        raise AccessKeyError("WALLET_DIGEST_SIGNING_KEY is required in production")
    return Ed25519PrivateKey.from_private_bytes(
        _seed(dev_secret(access.home / "secrets" / DEV_KEY_FILE))
    )


@dataclass(frozen=True)
class DigestSigner:
    key: Ed25519PrivateKey

    @property
    def raw_public_key(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id(self.raw_public_key)

    def public_pem(self) -> str:
        pem = self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return pem.decode()

    def sign(self, body: dict[str, Any]) -> str:
        """The hex Ed25519 signature over the body's canonical JSON."""
        return self.key.sign(canonical_json(body)).hex()
