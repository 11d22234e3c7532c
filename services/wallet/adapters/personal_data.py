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
data only the service key's id; it still opens (:meth:`PersonalDataVault.unseal`) until
``WALLET_LEGACY_SEALS=retired``.

Rotation. ``WALLET_PII_PREVIOUS_KEY`` is a service key being retired: what the current key does
not open is tried with it, and ``kgo wallet rekey`` re-wraps every data key it wraps under the
current key. Once that key is destroyed, whatever it sealed alone (the legacy claims in the
immutable events, their snapshots and backups) no longer opens anywhere.
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
    #: A service key being retired (rotation): opens what the current one does not.
    previous_seal_key: bytes | None = field(default=None, repr=False)
    #: False once every legacy value was re-sealed (``WALLET_LEGACY_SEALS=retired``).
    legacy_readable: bool = True

    def __post_init__(self) -> None:
        check_lengths(self.seal_key, self.index_key)
        if self.previous_seal_key is not None:
            check_lengths(self.previous_seal_key, self.index_key)

    @property
    def key_id(self) -> str:
        """Names the sealing key without revealing it (for rotation and crypto-shredding)."""
        return _key_id(self.seal_key)

    def _keys(self) -> list[bytes]:
        """The current key, then the one being retired."""
        previous = self.previous_seal_key
        return [self.seal_key] if previous is None else [self.seal_key, previous]

    def blind_index(self, kind: str, value: str) -> str:
        return hmac.new(self.index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def digest(self, data: dict[str, Any]) -> str:
        return hmac.new(self.index_key, b"digest:" + _json(data), hashlib.sha256).hexdigest()

    def seal(self, data: dict[str, Any], *, context: str = "") -> str:
        return _seal(self.seal_key, data, _service_aad(self.seal_key, context))

    def unseal(self, token: str, *, context: str = "") -> dict[str, Any]:
        if not token.startswith(PREFIX):
            return self.unseal_legacy(token)
        for key in self._keys():
            try:
                return _open(key, token, _service_aad(key, context))
            except SealError:
                continue
        raise SealError("the sealed value does not open here")

    def is_current(self, token: str, *, context: str = "") -> bool:
        """Whether the current key opens ``token`` (False: only the retiring one does)."""
        if not token.startswith(PREFIX):
            return False
        try:
            _open(self.seal_key, token, _service_aad(self.seal_key, context))
        except ValueError:  # SealError included
            return False
        return True

    def unseal_legacy(self, token: str) -> dict[str, Any]:
        """A value sealed before per-resident keys (one service key, bound to nothing but its
        id); refused once legacy seals are retired."""
        if not self.legacy_readable:
            raise SealError("legacy sealed values are retired (WALLET_LEGACY_SEALS=retired)")
        blob = base64.urlsafe_b64decode(token.encode())
        for key in self._keys():
            try:
                raw = AESGCM(key).decrypt(blob[:12], blob[12:], _key_id(key).encode())
            except InvalidTag:
                continue
            data: dict[str, Any] = json.loads(raw)
            return data
        raise SealError("the legacy sealed value does not open with this key")

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

    def rewrap(self, wallet_id: UUID, wrapped: str) -> str | None:
        """The data key wrapped under the current key, if only the retiring one wraps it."""
        if self.is_current(wrapped, context=f"data-key:{wallet_id}"):
            return None
        return self.wrap(self.unwrap(wallet_id, wrapped))


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"kgo-key-id" + key).hexdigest()[:16]


def _service_aad(key: bytes, context: str) -> bytes:
    return f"kgo-service|v2|{_key_id(key)}|{context}".encode()


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
    previous = None
    if s.pii_previous_key is not None or s.pii_previous_key_file is not None:
        # Never generated: only a deployment that rotates its key names one.
        env = "WALLET_PII_PREVIOUS_KEY"
        previous = configured_key(s.pii_previous_key, s.pii_previous_key_file, env, "")
        check_lengths(previous, index, names=(env, "WALLET_BLIND_INDEX_KEY"))
        if previous == seal:
            raise AccessKeyError(f"{env} is the same key as WALLET_PII_KEY")
    return PersonalDataVault(
        seal_key=seal,
        index_key=index,
        previous_seal_key=previous,
        legacy_readable=s.legacy_seals == "open",
    )
