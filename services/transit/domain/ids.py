"""Deterministic ids: the same tap, validator or pass always maps to the same aggregate, so a
retried tap or a re-sent batch lands on the trip it made the first time."""

from __future__ import annotations

from uuid import UUID, uuid5

TRANSIT_NAMESPACE = UUID("0b7e3d54-2f0c-5b8e-9a61-7d2c1e4f6a10")

NETWORK_ID = uuid5(TRANSIT_NAMESPACE, "network")
DENY_LIST_ID = uuid5(TRANSIT_NAMESPACE, "deny-list")


def trip_id(validator_id: str, tap_id: str) -> UUID:
    """A tap id is unique per validator; the trip id is that pair, made a UUID."""
    return uuid5(TRANSIT_NAMESPACE, f"trip:{validator_id}:{tap_id}")


def validator_key(validator_id: str) -> UUID:
    return uuid5(TRANSIT_NAMESPACE, f"validator:{validator_id}")


def credential_key(credential_hash: str) -> UUID:
    return uuid5(TRANSIT_NAMESPACE, f"credential:{credential_hash}")


def pass_key(pass_digest: str) -> UUID:
    return uuid5(TRANSIT_NAMESPACE, f"pass:{pass_digest}")


def settlement_key(payment_reference: str) -> UUID:
    return uuid5(TRANSIT_NAMESPACE, f"settlement:{payment_reference}")


def receipt_key(scope: str, idempotency_key: str) -> UUID:
    return uuid5(TRANSIT_NAMESPACE, f"receipt:{scope}:{idempotency_key}")
