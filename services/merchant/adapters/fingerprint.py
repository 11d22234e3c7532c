"""The keyed fingerprint of a card and its PIN: what the merchant puts in a redemption's
idempotency hash instead of the secrets, so a till retry with the same Idempotency-Key and
another PIN is told apart (``idempotency_key_reused``) while neither the card number nor the
PIN is ever stored. HMAC-SHA256 under ``MERCHANT_FINGERPRINT_KEY`` (development: a key made
once into ``$KGO_HOME/secrets/merchant-fingerprint.key``); without the key a stored hash
gives nothing away, even of a 4-digit PIN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from kgo_runtime.access import dev_secret


class KeyedFingerprint:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the fingerprint key is at least 16 bytes")
        self._key = key

    def __call__(self, *parts: str) -> str:
        return hmac.new(self._key, ":".join(parts).encode(), hashlib.sha256).hexdigest()


def fingerprint_key(configured: str | None, home: Path, profile: str) -> bytes:
    """The configured key (base64url), or (development and demo only) a generated one."""
    if not configured:
        if profile == "production":
            raise ValueError("MERCHANT_FINGERPRINT_KEY is required in production")
        configured = dev_secret(home / "secrets" / "merchant-fingerprint.key")
    text = configured.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
