"""The wallet's keys and what they seal: strict keys (defect 4), sealed data bound to its
resident and field (defect 5), per-resident data keys and the legacy path."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from kgo_runtime.access import AccessKeyError
from services.wallet.adapters.one_time_codes import code_secret
from services.wallet.adapters.personal_data import (
    PersonalDataVault,
    SealError,
    decode_key,
    vault_from,
)
from services.wallet.settings import WalletSettings

pytestmark = pytest.mark.unit

SEAL, INDEX = bytes(range(32)), bytes(range(32, 64))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def settings(**kw: object) -> WalletSettings:
    return WalletSettings(**kw)  # type: ignore[arg-type]


# --- defect 4: keys are strict ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pii", "index", "says"),
    [
        (b64(bytes(16)), b64(INDEX), "exactly 32 bytes (AES-256), got 16"),
        (b64(bytes(48)), b64(INDEX), "exactly 32 bytes (AES-256), got 48"),
        (b64(SEAL), b64(b"k"), "at least 32 bytes, got 1"),
        (b64(SEAL), b64(bytes(31)), "at least 32 bytes, got 31"),
        ("correct horse battery staple", b64(INDEX), "not base64url"),
        # 17 characters: no whole number of bytes (the old code decoded 12 and carried on).
        ("correcthorsebatte", b64(INDEX), "not base64url"),
        # base64url letters, but trailing bits set: a passphrase, not an encoded key.
        ("correcthorsebatterystaplecorrecthorsebatte", b64(INDEX), "not"),
    ],
)
def test_a_wrong_key_is_refused_with_its_name(pii: str, index: str, says: str) -> None:
    with pytest.raises(AccessKeyError, match="WALLET_") as refused:
        vault_from(settings(pii_key=SecretStr(pii), blind_index_key=SecretStr(index)))
    assert says in str(refused.value)


def test_good_keys_padded_or_not_and_a_longer_index_key() -> None:
    vault = vault_from(
        settings(
            pii_key=SecretStr(b64(SEAL).rstrip("=")), blind_index_key=SecretStr(b64(bytes(64)))
        )
    )
    assert vault.seal_key == SEAL and len(vault.index_key) == 64


def test_keys_come_from_files_the_deployment_mounts(tmp_path: Path) -> None:
    (tmp_path / "pii").write_text(b64(SEAL) + "\n")
    (tmp_path / "index").write_text(b64(INDEX))
    vault = vault_from(
        settings(pii_key_file=tmp_path / "pii", blind_index_key_file=tmp_path / "index")
    )
    assert (vault.seal_key, vault.index_key) == (SEAL, INDEX)
    with pytest.raises(AccessKeyError, match="not both"):
        vault_from(settings(pii_key=SecretStr(b64(SEAL)), pii_key_file=tmp_path / "pii"))
    with pytest.raises(AccessKeyError, match="cannot be read"):
        vault_from(settings(pii_key_file=tmp_path / "absent"))


def test_no_generated_keys_in_production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KGO_HOME", str(tmp_path))
    monkeypatch.setenv("KGO_PROFILE", "production")
    with pytest.raises(AccessKeyError, match="required in the 'production' profile"):
        vault_from(settings())
    with pytest.raises(AccessKeyError, match="WALLET_ACCESS_CODE_KEY"):
        code_secret(settings())
    assert not (tmp_path / "secrets").exists()


def test_development_keys_are_generated_once_atomically(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KGO_HOME", str(tmp_path))
    monkeypatch.setenv("KGO_PROFILE", "development")
    first, again = vault_from(settings()), vault_from(settings())
    assert first.seal_key == again.seal_key and len(first.seal_key) == 32
    key_file = tmp_path / "secrets" / "wallet-pii.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # Written aside then linked: nothing is left beside the key.
    assert sorted(p.name for p in key_file.parent.iterdir()) == [
        "wallet-blind-index.key",
        "wallet-pii.key",
    ]


def test_decode_key_accepts_the_old_padded_files() -> None:
    assert decode_key(base64.urlsafe_b64encode(SEAL).decode(), "k") == SEAL


# --- defect 5 and envelope encryption ---------------------------------------------------------


def test_one_residents_ciphertext_does_not_open_as_anothers() -> None:
    vault = PersonalDataVault(SEAL, INDEX)
    somchai, _ = vault.new_data_key(uuid4())
    malee, _ = vault.new_data_key(uuid4())
    sealed = somchai.seal("national_id", {"national_id": "1101700230705"})
    assert somchai.unseal("national_id", sealed) == {"national_id": "1101700230705"}
    with pytest.raises(SealError):
        malee.unseal("national_id", sealed)
    with pytest.raises(SealError):  # the same key, another field
        somchai.unseal("phone", sealed)


def test_a_data_key_unwraps_only_for_its_own_wallet() -> None:
    vault = PersonalDataVault(SEAL, INDEX)
    wallet, other = uuid4(), uuid4()
    key, wrapped = vault.new_data_key(wallet)
    assert vault.unwrap(wallet, wrapped) == key
    with pytest.raises(SealError):
        vault.unwrap(other, wrapped)


def test_service_sealed_values_are_bound_to_their_context() -> None:
    vault = PersonalDataVault(SEAL, INDEX)
    sealed = vault.seal({"phone": "0812345678"}, context="challenge:a")
    assert vault.unseal(sealed, context="challenge:a") == {"phone": "0812345678"}
    with pytest.raises(SealError):
        vault.unseal(sealed, context="challenge:b")


def test_values_sealed_before_per_resident_keys_still_open() -> None:
    """The legacy format: the service key, associated data its key id alone."""
    vault = PersonalDataVault(SEAL, INDEX)
    nonce = os.urandom(12)
    raw = b'{"national_id": "1101700230705"}'
    legacy = base64.urlsafe_b64encode(
        nonce + AESGCM(SEAL).encrypt(nonce, raw, vault.key_id.encode())
    ).decode()
    assert vault.unseal(legacy) == {"national_id": "1101700230705"}


def test_the_digest_of_a_request_is_gone_with_its_key() -> None:
    vault = PersonalDataVault(SEAL, INDEX)
    one, _ = vault.new_data_key(uuid4())
    two, _ = vault.new_data_key(uuid4())
    data = {"national_id": "1101700230705"}
    assert one.digest(data) == one.digest(dict(data)) != two.digest(data)


# --- rotation of the service key (kgo wallet rekey) ---------------------------------------------


def test_a_previous_key_opens_what_the_current_one_does_not_and_is_rewrapped() -> None:
    old = PersonalDataVault(SEAL, INDEX)
    wallet = uuid4()
    key, wrapped = old.new_data_key(wallet)
    challenge = old.seal({"phone": "0812345678"}, context="challenge:a")
    new_key = bytes(range(64, 96))
    rotating = PersonalDataVault(new_key, INDEX, previous_seal_key=SEAL)
    assert rotating.unwrap(wallet, wrapped) == key
    assert rotating.unseal(challenge, context="challenge:a") == {"phone": "0812345678"}
    rewrapped = rotating.rewrap(wallet, wrapped)
    assert rewrapped is not None and rotating.rewrap(wallet, rewrapped) is None
    after = PersonalDataVault(new_key, INDEX)  # the old key destroyed
    assert after.unwrap(wallet, rewrapped) == key
    with pytest.raises(SealError):
        after.unwrap(wallet, wrapped)


def test_the_previous_key_comes_from_settings_and_is_never_the_current_one() -> None:
    vault = vault_from(
        settings(pii_key=SecretStr(b64(SEAL)), blind_index_key=SecretStr(b64(INDEX)),
                 pii_previous_key=SecretStr(b64(bytes(range(64, 96)))), legacy_seals="retired")
    )  # fmt: skip
    assert vault.previous_seal_key == bytes(range(64, 96)) and not vault.legacy_readable
    with pytest.raises(AccessKeyError, match="same key"):
        vault_from(settings(pii_key=SecretStr(b64(SEAL)), blind_index_key=SecretStr(b64(INDEX)),
                            pii_previous_key=SecretStr(b64(SEAL))))  # fmt: skip
    with pytest.raises(AccessKeyError, match="WALLET_PII_PREVIOUS_KEY must be exactly 32"):
        vault_from(settings(pii_key=SecretStr(b64(SEAL)), blind_index_key=SecretStr(b64(INDEX)),
                            pii_previous_key=SecretStr(b64(bytes(16)))))  # fmt: skip
