"""Printed cards resolved to wallets by the wallet (``POST /v1/receive-codes/resolve``, as
``service``), so an attendance list may name residents by card number. The card number
goes no further than this call: commands, receipts and events carry the wallet id only."""

from __future__ import annotations

import hashlib
from typing import Protocol
from uuid import UUID

from kgo_runtime.wallet_client import WalletClient, WalletUnavailable


class CardResolver(Protocol):
    async def resolve(self, card_number: str) -> UUID | None:
        """The card's wallet, or None for a card the wallet does not know."""
        ...


class WalletCards:
    def __init__(self, wallet: WalletClient) -> None:
        self._wallet = wallet

    async def resolve(self, card_number: str) -> UUID | None:
        digest = hashlib.sha256(card_number.encode()).hexdigest()[:32]
        answer = await self._wallet.post(
            "/v1/receive-codes/resolve",
            {"card_number": card_number},
            idempotency_key=f"missions-card-{digest}",
        )
        if answer.status_code == 200:
            return UUID(answer.json()["wallet_id"])
        if answer.status_code in (404, 409, 422):
            return None
        raise WalletUnavailable(f"card lookup answered {answer.status_code}")
