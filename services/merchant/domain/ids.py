"""Deterministic ids: a retry with the same idempotency key lands on the same aggregate, and
every wallet call made for it carries a key derived from that aggregate's id."""

from __future__ import annotations

from uuid import UUID, uuid5

MERCHANT_NAMESPACE = UUID("3b6e0c52-7d7f-5b8e-a3c4-6b67e6d65201")
#: The wallet's namespace (its ``domain/ids.py``): payee account ids are uuid5 of it, so the
#: merchant knows a shop's account id before the wallet answers.
WALLET_NAMESPACE = UUID("6f1c1d2e-8a7b-5c4d-9e0f-4b6b6f6e6b00")


def shop_id(caller: str, idempotency_key: str) -> UUID:
    return uuid5(MERCHANT_NAMESPACE, f"shop:{caller}:{idempotency_key}")


def redemption_id(shop: UUID, idempotency_key: str) -> UUID:
    return uuid5(MERCHANT_NAMESPACE, f"redemption:{shop}:{idempotency_key}")


def reward_id(shop: UUID, idempotency_key: str) -> UUID:
    return uuid5(MERCHANT_NAMESPACE, f"reward:{shop}:{idempotency_key}")


def settlement_id(shop: UUID, idempotency_key: str) -> UUID:
    return uuid5(MERCHANT_NAMESPACE, f"settlement:{shop}:{idempotency_key}")


def receipt_id(caller: str, idempotency_key: str) -> UUID:
    return uuid5(MERCHANT_NAMESPACE, f"receipt:{caller}:{idempotency_key}")


def resident_day_id(wallet: UUID, day: str) -> UUID:
    return uuid5(MERCHANT_NAMESPACE, f"resident-day:{wallet}:{day}")


def shop_payee_id(shop: UUID) -> UUID:
    """The shop's account at the wallet (``payee_id("shop", str(shop))`` there)."""
    return uuid5(WALLET_NAMESPACE, f"account:shop:{shop}")


def wallet_key(aggregate: UUID, step: str) -> str:
    """The Idempotency-Key of one wallet call made for ``aggregate``."""
    return f"merchant:{aggregate}:{step}"
