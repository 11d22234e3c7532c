"""Residents' personal data: sealed with AES-256-GCM before it is stored, and looked up only
through keyed blind indexes (HMAC-SHA256), so neither the event store nor a backup reveals a
national ID or a phone number, and nothing personal ever reaches Kafka.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kgo_runtime.settings import InfraSettings

from ..settings import WalletSettings


@dataclass(frozen=True)
class PersonalDataVault:
    seal_key: bytes
    index_key: bytes

    @property
    def key_id(self) -> str:
        """Names the sealing key without revealing it (for rotation and crypto-shredding)."""
        return hashlib.sha256(b"kgo-key-id" + self.seal_key).hexdigest()[:16]

    def blind_index(self, kind: str, value: str) -> str:
        return hmac.new(self.index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def digest(self, data: dict[str, Any]) -> str:
        raw = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        return hmac.new(self.index_key, b"digest:" + raw, hashlib.sha256).hexdigest()

    def seal(self, data: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        raw = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        sealed = AESGCM(self.seal_key).encrypt(nonce, raw, self.key_id.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, token: str) -> dict[str, Any]:
        blob = base64.urlsafe_b64decode(token.encode())
        raw = AESGCM(self.seal_key).decrypt(blob[:12], blob[12:], self.key_id.encode())
        data: dict[str, Any] = json.loads(raw)
        return data


def _key(configured: str | None, name: str) -> bytes:
    """A configured key, or on a developer machine one generated once under $KGO_HOME."""
    if configured:
        return base64.urlsafe_b64decode(configured.encode() + b"==")[:32]
    path = Path(InfraSettings().home) / "secrets" / f"wallet-{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return base64.urlsafe_b64decode(path.read_text().strip().encode())[:32]


def vault_from(settings: WalletSettings) -> PersonalDataVault:
    pii = settings.pii_key.get_secret_value() if settings.pii_key else None
    index = settings.blind_index_key.get_secret_value() if settings.blind_index_key else None
    return PersonalDataVault(seal_key=_key(pii, "pii"), index_key=_key(index, "blind-index"))
