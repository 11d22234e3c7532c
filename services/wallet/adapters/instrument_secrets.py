"""The secrets of consent instruments, handled at the edge: drawing codes, card numbers and
passes, their keyed hashes (the ledger's ids), and PIN hashing.

Codes and card numbers are hashed with the vault's blind-index key (HMAC-SHA256), so neither
the store nor a backup holds one in plain; the copy an answer must repeat on a retry is
sealed (AES-GCM) inside the receipt.

PINs are hashed with scrypt (n=2^14, r=8: about 16 MiB and tens of milliseconds), salted, and
peppered with the blind-index key, so a stolen store does not give up 6-digit PINs to a brute
force. That cost is why a PIN is checked here, on a worker thread before the command is
submitted, and never in the batch writer, where it would stall every other command.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

from ..domain.instruments import instrument_id
from .personal_data import PersonalDataVault

#: The kinds of instrument, each hashed under its own name.
PAYMENT_CODE, RECEIVE_CODE, CARD = "payment_code", "receive_code", "card"
TRANSIT_PASS = "transit_pass"
CODE_DIGITS = 8
CARD_DIGITS = 16
PASS_PREFIX = "kgot_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


def draw_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def draw_card_number() -> str:
    """16 digits, the first never 0 (a printed number that survives spreadsheets)."""
    return str(10 ** (CARD_DIGITS - 1) + secrets.randbelow(9 * 10 ** (CARD_DIGITS - 1)))


def draw_pass() -> str:
    return PASS_PREFIX + secrets.token_urlsafe(18)


class InstrumentSecrets:
    """Keyed hashes and PIN hashes with one vault's keys."""

    def __init__(self, vault: PersonalDataVault) -> None:
        self.vault = vault

    def id_of(self, kind: str, secret: str) -> UUID:
        return instrument_id(kind, self.vault.blind_index(f"instrument:{kind}", secret))

    def fingerprint(self, *parts: str) -> str:
        return self.vault.blind_index("fingerprint", ":".join(parts))

    def hash_pin(self, pin: str, salt: bytes | None = None) -> tuple[str, str]:
        """(hash, salt), both hex; a fresh salt unless one is given."""
        salt = salt if salt is not None else secrets.token_bytes(16)
        peppered = hmac.new(self.vault.index_key, b"pin:" + pin.encode(), hashlib.sha256).digest()
        digest = hashlib.scrypt(peppered, salt=salt, **_SCRYPT)
        return digest.hex(), salt.hex()

    def pin_matches(self, pin: str, pin_hash: str, pin_salt: str) -> bool:
        digest, _ = self.hash_pin(pin, bytes.fromhex(pin_salt))
        return hmac.compare_digest(digest, pin_hash)
