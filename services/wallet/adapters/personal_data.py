"""Residents' personal data: sealed with AES-256-GCM before it is stored, and looked up only
through keyed blind indexes (HMAC-SHA256), so neither the event store nor a backup reveals a
national ID or a phone number, and nothing personal ever reaches Kafka.

Envelope encryption. Each resident has a random 32-byte data key (:class:`DataKey`); it seals
that resident's personal data, and the service key (``WALLET_PII_KEY``) only wraps it. The
wrapped data keys live in a mutable table (``adapters/resident_keys.py``): erasing a resident
deletes the key, and every copy of the ciphertext (event rows, snapshots, backups of the event
store) becomes unreadable at once while the ledger stays whole.

Associated data. A sealed value is bound to where it belongs: a resident's to the wallet id and
the field (``national_id``, ``phone``), a service-sealed value to its context (a challenge, a
wrapped key's wallet). Moving a ciphertext to another resident or field fails to open.

Formats. ``kgo2.<base64url(nonce | ciphertext)>`` is the current one. A value without that
prefix is a legacy one (before per-resident keys): sealed with the service key, its associated
data only the service key's id; it still opens (:meth:`PersonalDataVault.unseal`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from kgo_runtime.access import AccessKeyError, AccessSettings, dev_secret
from kgo_runtime.settings import InfraSettings

from ..settings import WalletSettings

PREFIX = "kgo2."
#: The length of every key that seals (AES-256).
SEAL_KEY_BYTES = 32
#: The shortest HMAC key accepted for blind indexes (as long as the hash).
MIN_INDEX_KEY_BYTES = 32
#: Profiles in which a missing key may be generated into $KGO_HOME/secrets/.
GENERATED_KEY_PROFILES = ("development", "demo")


class SealError(ValueError):
    """A sealed value that does not open: wrong key, wrong owner or field, or tampered."""


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False).encode()


def _seal(key: bytes, data: dict[str, Any], aad: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, _json(data), aad)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def _open(key: bytes, token: str, aad: bytes) -> dict[str, Any]:
    blob = base64.urlsafe_b64decode(token.removeprefix(PREFIX).encode())
    try:
        raw = AESGCM(key).decrypt(blob[:12], blob[12:], aad)
    except InvalidTag:
        raise SealError("the sealed value does not open here") from None
    data: dict[str, Any] = json.loads(raw)
    return data


@dataclass(frozen=True)
class DataKey:
    """One resident's data key: seals that resident's personal data, field by field."""

    wallet_id: UUID
    key: bytes = field(repr=False)

    def _aad(self, field_name: str) -> bytes:
        return f"kgo-personal-data|v2|{self.wallet_id}|{field_name}".encode()

    def seal(self, field_name: str, data: dict[str, Any]) -> str:
        return _seal(self.key, data, self._aad(field_name))

    def unseal(self, field_name: str, token: str) -> dict[str, Any]:
        if not token.startswith(PREFIX):
            raise SealError("not sealed with a resident's data key")
        return _open(self.key, token, self._aad(field_name))

    def digest(self, data: dict[str, Any]) -> str:
        """A keyed fingerprint of the data (a request's identity): gone with the key."""
        return hmac.new(self.key, b"digest:" + _json(data), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PersonalDataVault:
    """The service's keys: the one that wraps residents' data keys (and seals short-lived
    values such as a signup's request), and the one of blind indexes."""

    seal_key: bytes = field(repr=False)
    index_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_lengths(self.seal_key, self.index_key)

    @property
    def key_id(self) -> str:
        """Names the sealing key without revealing it (for rotation and crypto-shredding)."""
        return hashlib.sha256(b"kgo-key-id" + self.seal_key).hexdigest()[:16]

    def blind_index(self, kind: str, value: str) -> str:
        return hmac.new(self.index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def digest(self, data: dict[str, Any]) -> str:
        return hmac.new(self.index_key, b"digest:" + _json(data), hashlib.sha256).hexdigest()

    def _aad(self, context: str) -> bytes:
        return f"kgo-service|v2|{self.key_id}|{context}".encode()

    def seal(self, data: dict[str, Any], *, context: str = "") -> str:
        return _seal(self.seal_key, data, self._aad(context))

    def unseal(self, token: str, *, context: str = "") -> dict[str, Any]:
        if token.startswith(PREFIX):
            return _open(self.seal_key, token, self._aad(context))
        # Legacy (one global key, bound to nothing but its id): still readable.
        blob = base64.urlsafe_b64decode(token.encode())
        try:
            raw = AESGCM(self.seal_key).decrypt(blob[:12], blob[12:], self.key_id.encode())
        except InvalidTag:
            raise SealError("the legacy sealed value does not open with this key") from None
        data: dict[str, Any] = json.loads(raw)
        return data

    # --- residents' data keys (envelope encryption) ----------------------------------------

    def new_data_key(self, wallet_id: UUID) -> tuple[DataKey, str]:
        """A fresh data key for a resident, and the same wrapped by the service key."""
        key = secrets.token_bytes(SEAL_KEY_BYTES)
        return DataKey(wallet_id, key), self.wrap(DataKey(wallet_id, key))

    def wrap(self, data_key: DataKey) -> str:
        raw = {"key": base64.urlsafe_b64encode(data_key.key).decode()}
        return self.seal(raw, context=f"data-key:{data_key.wallet_id}")

    def unwrap(self, wallet_id: UUID, wrapped: str) -> DataKey:
        raw = self.unseal(wrapped, context=f"data-key:{wallet_id}")
        return DataKey(wallet_id, base64.urlsafe_b64decode(raw["key"].encode()))


# --- keys from the deployment's secrets ---------------------------------------------------------

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def decode_key(text: str, what: str) -> bytes:
    """A base64url key, strictly: a passphrase or a truncated key is refused, not stretched."""
    stripped = text.strip()
    bare = stripped.rstrip("=")
    if not _BASE64URL.match(stripped) or len(bare) % 4 == 1:
        raise AccessKeyError(f"{what} is not base64url (a passphrase is not a key)")
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise AccessKeyError(f"{what} is not base64url") from None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != bare:
        raise AccessKeyError(f"{what} is not canonical base64url (a passphrase is not a key)")
    return raw


def check_lengths(seal_key: bytes, index_key: bytes, *, names: tuple[str, str] = ("", "")) -> None:
    seal_name = names[0] or "the personal-data key"
    index_name = names[1] or "the blind-index key"
    if len(seal_key) != SEAL_KEY_BYTES:
        raise AccessKeyError(
            f"{seal_name} must be exactly {SEAL_KEY_BYTES} bytes (AES-256), got {len(seal_key)}"
        )
    if len(index_key) < MIN_INDEX_KEY_BYTES:
        raise AccessKeyError(
            f"{index_name} must be at least {MIN_INDEX_KEY_BYTES} bytes, got {len(index_key)}"
        )


def configured_key(value: SecretStr | None, file: Path | None, env: str, dev_name: str) -> bytes:
    """A key from its setting, or from a file the deployment mounts (``<env>_FILE``, e.g. a
    Kubernetes secret); generated once under $KGO_HOME only in a development profile, so two
    production hosts can never silently hold different keys."""
    if value is not None and file is not None:
        raise AccessKeyError(f"set {env} or {env}_FILE, not both")
    if file is not None:
        try:
            text = file.read_text()
        except OSError as error:
            raise AccessKeyError(f"{env}_FILE {file} cannot be read: {error}") from None
        return decode_key(text, f"{env}_FILE {file}")
    if value is not None:
        return decode_key(value.get_secret_value(), env)
    profile = AccessSettings().profile
    if profile not in GENERATED_KEY_PROFILES:
        raise AccessKeyError(
            f"{env} (or {env}_FILE) is required in the {profile!r} profile: every wallet "
            "host must share the same key, from the deployment's secrets"
        )
    path = Path(InfraSettings().home) / "secrets" / f"wallet-{dev_name}.key"
    return decode_key(dev_secret(path), str(path))


def vault_from(settings: WalletSettings) -> PersonalDataVault:
    """The service's keys, checked: a wrong length or a passphrase stops the start (the
    service never becomes ready, and the log says which key and why)."""
    s = settings
    seal = configured_key(s.pii_key, s.pii_key_file, "WALLET_PII_KEY", "pii")
    index = configured_key(
        s.blind_index_key, s.blind_index_key_file, "WALLET_BLIND_INDEX_KEY", "blind-index"
    )
    check_lengths(seal, index, names=("WALLET_PII_KEY", "WALLET_BLIND_INDEX_KEY"))
    return PersonalDataVault(seal_key=seal, index_key=index)
