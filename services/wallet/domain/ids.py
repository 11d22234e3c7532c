"""Deterministic ids for the treasury's own accounts and for keyed aggregates.

Residents' wallet ids are random (pseudonymous); system accounts and budgets have ids anyone
can recompute from their names, so a subscriber can recognise them.
"""

from __future__ import annotations

from hashlib import sha1
from uuid import UUID, uuid5

KGO_NAMESPACE = UUID("6f1c1d2e-8a7b-5c4d-9e0f-4b6b6f6e6b00")

_NAMESPACE = KGO_NAMESPACE.bytes
#: RFC 4122 version 5 and variant bits, set over the name's SHA-1 as ``uuid5`` sets them.
_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_MARK = (5 << 76) | (0x8000 << 48)


def kgo_id(name: str) -> UUID:
    """``uuid5(KGO_NAMESPACE, name)``, the same id, without the standard function's import
    and argument checks on each call: a spend makes several (receipt, movement, the
    authorisation's instruments), ~3 µs each saved (BENCHMARKS.md)."""
    digest = sha1(_NAMESPACE + name.encode(), usedforsecurity=False).digest()
    return UUID(int=(int.from_bytes(digest[:16]) & _KEEP) | _MARK)


ISSUER_ID = uuid5(KGO_NAMESPACE, "account:issuer")
MUNICIPALITY_ID = uuid5(KGO_NAMESPACE, "account:municipality")
GENESIS_MOVEMENT_ID = uuid5(KGO_NAMESPACE, "movement:genesis-mint")


def budget_id(programme: str) -> UUID:
    return kgo_id(f"account:budget:{programme}")


def receipt_id(scope: str, idempotency_key: str) -> UUID:
    return kgo_id(f"receipt:{scope}:{idempotency_key}")


def claim_id(kind: str, blind_index: str) -> UUID:
    return kgo_id(f"identity:{kind}:{blind_index}")


def payee_id(kind: str, external_ref: str) -> UUID:
    """A shop's or the bus operator's account id, from the owning service's own id."""
    return kgo_id(f"account:{kind}:{external_ref}")
