"""Deterministic ids for the treasury's own accounts and for keyed aggregates.

Residents' wallet ids are random (pseudonymous); system accounts and budgets have ids anyone
can recompute from their names, so a subscriber can recognise them.
"""

from __future__ import annotations

from uuid import UUID, uuid5

KGO_NAMESPACE = UUID("6f1c1d2e-8a7b-5c4d-9e0f-4b6b6f6e6b00")

ISSUER_ID = uuid5(KGO_NAMESPACE, "account:issuer")
MUNICIPALITY_ID = uuid5(KGO_NAMESPACE, "account:municipality")
GENESIS_MOVEMENT_ID = uuid5(KGO_NAMESPACE, "movement:genesis-mint")


def budget_id(programme: str) -> UUID:
    return uuid5(KGO_NAMESPACE, f"account:budget:{programme}")


def receipt_id(scope: str, idempotency_key: str) -> UUID:
    return uuid5(KGO_NAMESPACE, f"receipt:{scope}:{idempotency_key}")


def claim_id(kind: str, blind_index: str) -> UUID:
    return uuid5(KGO_NAMESPACE, f"identity:{kind}:{blind_index}")


def payee_id(kind: str, external_ref: str) -> UUID:
    """A shop's or the bus operator's account id, from the owning service's own id."""
    return uuid5(KGO_NAMESPACE, f"account:{kind}:{external_ref}")
