"""The wallet's HTTP API (``/v1``).

The bootstrap builds the app with :data:`API_METADATA`, calls :func:`install_error_handlers`
and includes :func:`build_router`; routes reach the container as ``app.state.wallet``.
Who may call which route: the table in :mod:`.auth`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kgo_runtime.http import flat_router

from . import (
    routes_circulation,
    routes_consent,
    routes_payments,
    routes_resident_data,
    routes_residents,
    routes_sessions,
    routes_signup,
    routes_tokens,
    routes_treasury,
)
from .problems import install_error_handlers

__all__ = ["API_DESCRIPTION", "API_METADATA", "build_router", "install_error_handlers"]

API_DESCRIPTION = (
    "The only place a KGO balance changes. Every `/v1` route but residents' signup and "
    "sign-in needs `Authorization: Bearer <token>`; every write needs an `Idempotency-Key` header "
    "(a retry with the same key and body gets the first answer, marked "
    "`Idempotent-Replayed: true`). Coins are whole numbers. Errors are "
    "`application/problem+json` with a stable `code`."
)

#: Everything ``FastAPI(...)`` takes to describe the API (title, version, tags).
API_METADATA: dict[str, Any] = {
    "title": "KGO wallet",
    "version": "1.0.0",
    "summary": "Balances of record of Khon Kaen's city token (KGO).",
    "description": API_DESCRIPTION,
    "openapi_tags": [
        {"name": "treasury", "description": "The fixed supply: minted once, then handed over."},
        {"name": "budgets", "description": "Programme budgets, funded by the municipality."},
        {"name": "accounts", "description": "Residents' wallets, shops and the bus operator."},
        {"name": "payments", "description": "Grants, spends and holds."},
        {
            "name": "consent",
            "description": "A resident's authorisations: payment codes, cards, transit passes.",
        },
        {"name": "tokens", "description": "API tokens and their roles."},
        {"name": "circulation", "description": "Refunds, rewards, settlements, shortfalls."},
        {
            "name": "residents",
            "description": "Residents' signup, sign-in and sessions (one-time codes by SMS), "
            "registration at a municipal counter.",
        },
    ],
}


def build_router() -> APIRouter:
    """Every route of the API in one router (flat: see kgo_runtime.http.flat_router)."""
    return flat_router(
        *(
            module.router
            for module in (
                routes_treasury,
                routes_residents,
                routes_payments,
                routes_consent,
                routes_tokens,
                routes_circulation,
                routes_signup,
                routes_sessions,
                routes_resident_data,
            )
        )
    )
