"""The keyed digest of a transit pass: what transit stores, publishes and puts on the deny
list instead of the pass token (a secret, though no personal data).

HMAC-SHA256 under the pass-digest key, base64url, 22 characters (128 bits). Validators are
given the same key so they can digest a tapped pass and match the deny list offline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from kgo_runtime.access import dev_secret


class PassDigest:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pass-digest key is at least 16 bytes")
        self._key = key

    @property
    def key(self) -> bytes:
        return self._key

    def __call__(self, pass_token: str) -> str:
        mac = hmac.new(self._key, pass_token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode()


def pass_digest_key(configured: str | None, home: Path, profile: str) -> bytes:
    """The configured key, or (development and demo only) one generated once into
    ``$KGO_HOME/secrets/transit-pass-digest.key``."""
    if configured:
        return _unb64(configured)
    if profile == "production":
        raise ValueError("TRANSIT_PASS_DIGEST_KEY is required in production")
    return _unb64(dev_secret(home / "secrets" / "transit-pass-digest.key"))


def key_text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
